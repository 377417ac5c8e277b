"""Your own model (``ecg_pipeline.own_model``) through the whole evaluation on real MIT-BIH beats, ci-sized: a small
TorchScript CNN defined here (not in the registry), a state dict of the registry MLP, and a zoo entry on WFDB records
written at 128 Hz (cross-database); every refusal before any attack."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ecg_pipeline.data.beats import segment_beats
from ecg_pipeline.data.wfdb_folder import evaluation_split, read_wfdb_folder
from ecg_pipeline.errors import EcgConfigError, EcgDataError, EcgModelError
from ecg_pipeline.evaluation import AttackSpec
from ecg_pipeline.evaluation.intervals import Bootstrap
from ecg_pipeline.own_model import InputContract, beside_the_zoo, judge, load_model
from ecg_pipeline.verification.grid import CertifySpec

CLASSES = ("N", "S", "V", "F", "Q")
CONTRACT = InputContract("kachuee", 187, CLASSES)
#: ci-sized (conf/ci): two eps, a few beats per class, 5 steps, 50 queries, one escalation round.
DEFAULTS = {"grid": [0.0, 0.02, 0.05], "eps_max": 0.05, "per_class": 4, "diagnostics_per_class": 2, "progress": False,
            "num_threads": 1, "bounds": [0.0, 1.0]}
SPECS = {
    "autoattack": AttackSpec.from_params({**DEFAULTS, "diagnostics": True,
                                          "escalation": {"max_doublings": 1, "tolerance": 0.005},
                                          "params": {"steps": 5, "restarts": 1, "max_queries": 50,
                                                     "attacks": ["apgd_ce", "apgd_t", "fab_t", "square"]}},
                                         "autoattack"),
    "pgd": AttackSpec.from_params({**DEFAULTS, "params": {"steps": 5}}, "pgd"),
}
CERTIFY = CertifySpec(grid=(0.0,), alpha_steps=5)
BOOTSTRAP = Bootstrap(resamples=200)


class TinyCNN(nn.Module):
    """Not a registry model: one strided convolution, ReLU, a linear head."""

    def __init__(self, length: int = 187, n_classes: int = 5):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 7, stride=2)
        self.head = nn.Linear(4 * ((length - 7) // 2 + 1), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def real(trained_mitdb_mlp):
    """The registry MLP trained on real MIT-BIH beats (3 epochs, <= 100 per class) and its real test beats."""
    return trained_mitdb_mlp(100, 3)


@pytest.fixture(scope="module")
def scripted_file(real, tmp_path_factory) -> Path:
    """TinyCNN trained for 60 Adam steps on the real training beats, scripted and saved in eval mode."""
    _, parts = real
    x = torch.from_numpy(parts["train"]["x"][:, None, :].astype(np.float32))
    y = torch.from_numpy(parts["train"]["y"].astype(np.int64))
    torch.manual_seed(0)
    model = TinyCNN()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(60):
        batch = torch.randint(0, len(y), (64,), generator=torch.Generator().manual_seed(step))
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        optimiser.step()
    path = tmp_path_factory.mktemp("own") / "tiny_cnn.ts"
    torch.jit.save(torch.jit.script(model.eval()), str(path))
    return path


def correct_per_beat(judged, attack: str) -> np.ndarray:
    out = judged.outcomes()
    return out[f"pred_{attack}"] == out["subset_y"][None, :]


def test_a_torchscript_model_goes_through_the_whole_evaluation(real, scripted_file):
    _, parts = real
    judged = judge(load_model(scripted_file, CONTRACT), parts["test"], CONTRACT, SPECS, name="tiny_cnn",
                   split="mitdb_test", certify=CERTIFY, bootstrap=BOOTSTRAP, source=str(scripted_file))
    worst = judged.worst_case
    assert worst["n"] == 20 and worst["per_class"] == {c: 4 for c in CLASSES}
    assert worst["attacks"] == ["autoattack", "pgd"] and worst["population"] == "autoattack"
    # the worst case is never above any single attack, per eps and per beat
    for attack, metrics in judged.evaluations.items():
        for mine, theirs in zip(worst["curve"], metrics["curve"]):
            assert mine["balanced_accuracy"] <= theirs["balanced_accuracy"] + 1e-12
        assert worst["acc_robust_balanced"] <= metrics["acc_robust_balanced"] + 1e-12
    both = correct_per_beat(judged, "autoattack") & correct_per_beat(judged, "pgd")
    balanced = np.mean([both[:, judged.outcomes()["subset_y"] == c].mean(1) for c in range(5)], axis=0)
    assert np.allclose(balanced, [p["balanced_accuracy"] for p in worst["curve"]])
    assert worst["curve"][0]["balanced_accuracy"] > 0.4   # trained: well above chance (0.2) on real beats
    interval = worst["intervals"]["acc_robust"]
    assert interval["low"] <= worst["acc_robust_balanced"] <= interval["high"]
    assert worst["escalation"]["autoattack"]["doublings"] <= 1
    # the verifier does not know a TorchScript module: said in the output, not raised
    assert judged.certified["supported"] is False and "ScriptedModel" in judged.certified["reason"]
    row = judged.headline.iloc[0]
    assert row["model"] == "tiny_cnn (tiny_cnn)" and row["beats"] == 20 and row["split"] == "mitdb_test"
    assert row["worst-case ACC_robust"] == pytest.approx(worst["acc_robust_balanced"])
    assert row["certified lower bound"].startswith("not certified: ") and row["certified ACC_robust"] is None
    assert row["notes"] == ""  # a file from outside the zoo: nothing known of its training beats
    table = beside_the_zoo(judged)
    zoo_rows = table.iloc[:-1]   # every zoo entry's stored row, then this model's
    assert table["model"].iloc[-1] == "tiny_cnn (tiny_cnn)"
    assert {"CE (ce_mlp)", "0.4NSR (nsr_mlp)"} <= set(zoo_rows["model"])
    assert zoo_rows["source"].str.startswith("zoo:").all() and (zoo_rows["beats"] == 1161).all()
    # the zoo's stored certificates bracket its rows as in the report (IBP: 0.483 certified under 0.568 attacked)
    ibp = zoo_rows.set_index("model").loc["IBP0.011 (ibp_mlp)"]
    assert ibp["certified ACC_robust"] == pytest.approx(0.4835, abs=1e-4)
    assert ibp["certified ACC_robust"] < ibp["worst-case ACC_robust"]
    assert np.isnan(zoo_rows.set_index("model").loc["CE (ce_mlp)", "certified ACC_robust"])


def test_a_state_dict_of_a_registry_model_is_certified_under_its_worst_case(real, tmp_path):
    model, parts = real
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    loaded = load_model(path, CONTRACT, model={"name": "mlp"})
    assert loaded.meta["format"] == "state_dict" and loaded.meta["classes"] == list(CLASSES)
    judged = judge(loaded, parts["test"], CONTRACT, SPECS, name="my_mlp", split="mitdb_test", certify=CERTIFY,
                   bootstrap=BOOTSTRAP)
    certified = judged.certified
    assert certified["supported"] and certified["grid"] == [0.0, 0.02, 0.05] and certified["n"] == 20
    out = judged.outcomes()
    assert np.array_equal(out["subset_certify"], out["subset_autoattack"])
    certified_right = out["pred_certify"] == out["subset_y"][None, :]
    worst_right = correct_per_beat(judged, "autoattack") & correct_per_beat(judged, "pgd")
    assert not (certified_right & ~worst_right).any()                  # certified <= worst case, beat by beat
    assert certified_right[0].tolist() == worst_right[0].tolist()      # eps 0: both are the clean outcome
    assert certified["acc_robust_balanced"] <= judged.worst_case["acc_robust_balanced"] + 1e-12
    row = judged.headline.iloc[0]
    assert row["certified ACC_robust"] == pytest.approx(certified["acc_robust_balanced"])
    assert row["bracket width (ACC_robust)"] == pytest.approx(
        judged.worst_case["acc_robust_balanced"] - certified["acc_robust_balanced"])
    assert set(judged.bracket["point"]) == {"0", "0.02", "0.05", "ACC_robust (eps <= 0.05)"}


def _refused(model: nn.Module, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.ts"
    torch.jit.save(torch.jit.script(model), str(path))
    return path


class NaNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(187, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.flatten(1)) * float("nan")


class Detached(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(187, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.flatten(1)).detach()


@pytest.mark.parametrize("case, error, message", [
    ("garbage", EcgModelError, r"garbage.ts does not load as a TorchScript file .*torch.jit.save"),
    ("length", EcgModelError, r"fails on beats of the declared length 187 \('own_model.contract.length'"),
    ("classes", EcgModelError, r"returns 4 scores per beat, the contract \('own_model.contract.classes'\) lists 5"),
    ("nan", EcgModelError, r"NaN or infinite scores on 8 of 8 real beats"),
    ("dropout", EcgModelError, r"two identical calls .* dropout or another random layer is left on"),
    ("detached", EcgModelError, r"no gradient with respect to the input"),
    ("contract", EcgDataError, r"the beats are labelled \['N', 'S', 'V', 'F', 'Q'\], the contract"),
])
def test_each_bad_model_is_refused_before_any_attack(real, tmp_path, case, error, message):
    _, parts = real
    contract = InputContract("kachuee", 187, ("N", "S", "V", "F")) if case == "contract" else CONTRACT
    if case == "garbage":
        path = tmp_path / "garbage.ts"
        path.write_bytes(b"not a model")
    else:
        model = {"length": nn.Sequential(nn.Flatten(), nn.Linear(280, 5)),
                 "classes": nn.Sequential(nn.Flatten(), nn.Linear(187, 4)),
                 "nan": NaNModel(), "detached": Detached(),
                 "dropout": nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(187, 5)).train(),
                 "contract": nn.Sequential(nn.Flatten(), nn.Linear(187, 4))}[case]
        path = _refused(model, tmp_path, case)
    # an attack that would stop with its own error the moment it ran: the refusal must come first
    unrunnable = {"pgd": AttackSpec.from_params({**DEFAULTS, "params": {"steps": -1}}, "pgd")}
    with pytest.raises(error, match=message):
        model = load_model(path, contract)
        judge(model, parts["test"], contract, unrunnable, name=case, split="mitdb_test", certify=CERTIFY)


def test_a_bad_source_or_contract_is_named():
    with pytest.raises(EcgConfigError, match=r"'own_model.source': not set"):
        load_model(None, CONTRACT)
    with pytest.raises(EcgModelError, match=r"nowhere.pt is not a file"):
        load_model("nowhere.pt", CONTRACT)
    with pytest.raises(EcgConfigError, match=r"zoo entry 'ce_mpl' is not in the index.*did you mean 'ce_mlp'"):
        load_model("zoo:ce_mpl", CONTRACT)
    with pytest.raises(EcgConfigError, match=r"'own_model.contract.length': beat scheme 'kachuee' cuts beats of 187"):
        InputContract("kachuee", 280, CLASSES)
    with pytest.raises(EcgConfigError, match=r"'own_model.contract.scheme'.*did you mean 'centered'"):
        InputContract.from_params({"scheme": "centred", "length": 280, "classes": list(CLASSES)})
    with pytest.raises(EcgModelError, match=r"was trained on classes \['N', 'S', 'V', 'F', 'Q'\]"):
        load_model("zoo:ce_mlp", InputContract("kachuee", 187, ("N", "S", "V", "F", "X")))


def test_a_state_dict_that_does_not_fit_its_registry_model_is_named(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"body.0.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(EcgModelError, match=r"weights.pt does not fit registry model 'mlp'"):
        load_model(path, CONTRACT, model={"name": "mlp"})
    with pytest.raises(EcgConfigError, match=r"'own_model.model': unknown model 'mpl'"):
        load_model(path, CONTRACT, model={"name": "mpl"})


def _wfdb_helpers(project_root: Path):
    path = project_root / "tests" / "data" / "test_wfdb_folder.py"   # write_at_rate: one definition, there
    spec = importlib.util.spec_from_file_location("wfdb_folder_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_zoo_model_is_judged_on_records_at_another_rate(shared_data, project_root, tmp_path):
    """Cross-database: the zoo's CE MLP on MIT-BIH 208 written at 128 Hz, read back through the generic WFDB path
    (``wfdb_test``), judged and certified like any own model."""
    helpers = _wfdb_helpers(project_root)
    helpers.write_at_rate(shared_data / "mitdb", "208", 128, tmp_path)
    beats = evaluation_split(segment_beats(read_wfdb_folder(tmp_path), scheme="kachuee"))["test"]
    present = [CLASSES[c] for c in np.unique(beats["y"])]
    assert present[:4] == ["N", "S", "V", "F"]
    model = load_model("zoo:ce_mlp", CONTRACT)
    assert model.meta["format"] == "zoo" and model.meta["fingerprint"] == "95fc4647016e5da82cc8"
    judged = judge(model, beats, CONTRACT, {"autoattack": SPECS["autoattack"]}, name="ce_mlp", split="wfdb_test",
                   certify=CERTIFY, bootstrap=BOOTSTRAP, source="zoo:ce_mlp")
    worst = judged.worst_case
    assert worst["split"] == "wfdb_test" and set(worst["per_class"]) == set(present)
    assert worst["n"] == sum(min(4, int((beats["y"] == CLASSES.index(c)).sum())) for c in present)
    assert judged.certified["supported"]
    out = judged.outcomes()
    assert not ((out["pred_certify"] == out["subset_y"]) & ~correct_per_beat(judged, "autoattack")).any()
    assert judged.certified["acc_robust_balanced"] <= worst["acc_robust_balanced"] + 1e-12
    table = beside_the_zoo(judged)
    assert table["split"].iloc[-1] == "wfdb_test" and set(table["split"].iloc[:-1]) == {"mitdb_test"}
    assert table["model"].iloc[-1] == "ce_mlp (ce_mlp)" and not np.isnan(table["certified ACC_robust"].iloc[-1])


def test_a_zoo_model_on_another_configurations_split_is_flagged(real):
    """The fixture's test split is not the one the zoo judged ce_mlp on (its 250-per-class mitdb_test): the row says
    so, since such a split may hold the model's training beats."""
    _, parts = real
    model = load_model("zoo:ce_mlp", CONTRACT)
    judged = judge(model, parts["test"], CONTRACT, {"pgd": SPECS["pgd"]}, name="ce_mlp", split="mitdb_test",
                   bootstrap=BOOTSTRAP)
    [note] = judged.worst_case["notes"]
    assert model.meta["zoo_test_fingerprint"] in note and "may include beats the model was trained on" in note
    assert judged.headline["notes"].iloc[0] == note
    assert judged.certified == {"supported": False, "reason": "not requested (own_model.certify: false)"}
