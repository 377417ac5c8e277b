"""The model zoo (``zoo/``): its MLP entries re-checked on real MIT-BIH, per beat, on their cheap deterministic
evaluations, and every refusal (a changed or missing file, an existing entry, an unknown entry) made before work.

Re-checked here: ``pgd``, ``pgd_nsr`` (100-step gradient attacks) and ``real_noise_em`` (NSTDB noise) of both MLPs,
on all 1,161 beats: about 10 s of evaluation after a 5 s rebuild of the test split from raw. Left to the full
``python -m ecg_pipeline.zoo check`` (minutes): ``square`` (5,000 queries) and ``autoattack`` (the ensemble and its
masking checks), which only add cost, not another code path of the comparison."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ecg_pipeline.errors import EcgDataError, EcgModelError
from ecg_pipeline.zoo import add_entry, check_zoo, default_zoo, read_index
from ecg_pipeline.zoo.card import model_card
from ecg_pipeline.zoo.index import sha256, write_index
from ecg_pipeline.zoo.recheck import platform_of, this_platform

ZOO = default_zoo()
ENTRIES = ("ce_mlp", "nsr_mlp", "adv_mlp")
CHEAP = ("pgd", "pgd_nsr", "real_noise_em")


@pytest.fixture
def zoo_copy(tmp_path) -> Path:
    copy = tmp_path / "zoo"
    shutil.copytree(ZOO, copy)
    return copy


def recorded_on_this_platform(entry: str, attack: str) -> bool:
    metrics = json.loads((ZOO / entry / "evaluations" / f"{attack}.json").read_text())
    return platform_of(metrics["provenance"]) == this_platform()


def test_the_mlp_zoo_reproduces_its_cheap_evaluations_beat_for_beat(shared_data):
    lines = []
    outcomes = check_zoo(ZOO, ENTRIES, CHEAP, shared_data, report=lines.append)
    assert [(o.entry, o.evaluation) for o in outcomes] == [(e, a) for e in ENTRIES for a in CHEAP]
    assert all(o.ok for o in outcomes), "\n".join(lines)
    for outcome in outcomes:  # exact where the evaluation was stored; within the stated tolerance elsewhere
        if recorded_on_this_platform(outcome.entry, outcome.evaluation):
            assert "identical per-beat predictions" in outcome.line


def test_a_changed_stored_prediction_is_a_mismatch_naming_the_beat(zoo_copy, shared_data):
    examples = zoo_copy / "ce_mlp" / "evaluations" / "real_noise_em.npz"
    with np.load(examples) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["pred"][2, 7] = (arrays["pred"][2, 7] + 1) % 5  # one beat, one grid point
    np.savez(examples, **arrays)
    index = read_index(zoo_copy)  # re-hashed: the comparison, not the hash, must catch it
    index["entries"]["ce_mlp"]["files"]["evaluations/real_noise_em.npz"] = sha256(examples)
    write_index(zoo_copy, index)
    lines = []
    [outcome] = check_zoo(zoo_copy, ["ce_mlp"], ["real_noise_em"], shared_data, report=lines.append)
    beat = int(arrays["subset"][7])
    if recorded_on_this_platform("ce_mlp", "real_noise_em"):
        assert not outcome.ok and outcome.line.startswith("MISMATCH")
        assert f"beat {beat} " in outcome.line and "1 per-beat predictions differ" in outcome.line


def test_a_tampered_model_is_refused_before_any_work(zoo_copy, tmp_path):
    model = zoo_copy / "nsr_mlp" / "model.pt"
    checkpoint = torch.load(model, weights_only=True)
    first = next(iter(checkpoint["state_dict"]))
    checkpoint["state_dict"][first][0] += 1e-3
    torch.save(checkpoint, model)
    nowhere = tmp_path / "no-data"  # any work would stop on the missing raw data instead
    with pytest.raises(EcgModelError, match=r"nsr_mlp: .*model\.pt \(the model's weights\) has sha256"):
        check_zoo(zoo_copy, ["nsr_mlp"], ["pgd"], nowhere)


def test_a_missing_file_and_a_missing_reference_are_refused(zoo_copy, tmp_path):
    (zoo_copy / "ce_mlp" / "evaluations" / "pgd.npz").unlink()
    with pytest.raises(EcgDataError, match=r"ce_mlp: .*evaluations/pgd\.npz is missing"):
        check_zoo(zoo_copy, ["ce_mlp"], None, tmp_path / "no-data")
    index = read_index(zoo_copy)  # nsr_mlp's transfer check crafts on ce_mlp: without it, refused by name
    del index["entries"]["ce_mlp"]
    write_index(zoo_copy, index)
    with pytest.raises(EcgDataError, match=r"reference model\(s\) \['ce_mlp'\], not in the zoo"):
        check_zoo(zoo_copy, ["nsr_mlp"], ["autoattack"], tmp_path / "no-data")
    with pytest.raises(EcgDataError, match=r"zoo entry 'nsr_mlx' is not in the index.*did you mean 'nsr_mlp'"):
        check_zoo(zoo_copy, ["nsr_mlx"], None, tmp_path / "no-data")


def project_from(entry: Path, run: str, project: Path, version: str) -> None:
    """A Kedro project's data/ folder holding ``entry``'s files where the project stores them, each evaluation and
    the certificate at the version the index records."""
    recorded = read_index(entry.parent)["entries"][run]

    def put(source: Path, folder: Path, stamp: Path | None = None, at: str = version) -> None:
        target = folder / at / folder.name
        target.parent.mkdir(parents=True)
        shutil.copyfile(source, target)
        if stamp is not None:
            shutil.copyfile(stamp, target.with_name(f".{target.name}.provenance"))

    data = project / "data"
    put(entry / "model.pt", data / "06_models" / f"{run}.pt", entry / "model.pt.provenance")
    put(entry / "training_history.csv", data / "08_reporting" / "training" / f"{run}_history.csv")
    for metrics in (entry / "evaluations").glob("*.json"):
        if metrics.name.endswith(".provenance.json"):
            continue
        attack = metrics.stem
        at = recorded["evaluations"][attack]["version"]
        put(metrics, data / "08_reporting" / "attacks" / run / f"{attack}.json",
            entry / "evaluations" / f"{attack}.provenance.json", at)
        put(entry / "evaluations" / f"{attack}.npz", data / "07_model_output" / "adversarial" / run / f"{attack}.npz",
            at=at)
    if recorded.get("certify"):
        at = recorded["certify"]["version"]
        put(entry / "certified" / "certify.json", data / "08_reporting" / "certify" / f"{run}.json",
            entry / "certified" / "certify.provenance.json", at)
        put(entry / "certified" / "certify.npz", data / "07_model_output" / "certify" / f"{run}.npz", at=at)
    worst = json.loads((entry / "worst_case.json").read_text())
    report = data / "08_reporting" / "report" / "worst_cases.json" / worst["report_version"] / "worst_cases.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({run: {k: v for k, v in worst.items() if k != "report_version"}}))


def test_add_rebuilds_an_entry_from_a_projects_artifacts_and_never_overwrites_one(zoo_copy, tmp_path):
    stored = read_index(ZOO)["entries"]["ce_mlp"]
    project_from(ZOO / "ce_mlp", "ce_mlp", tmp_path / "project", stored["model_version"])
    fresh = tmp_path / "fresh-zoo"
    entry = add_entry(tmp_path / "project", "ce_mlp", fresh)
    added = read_index(fresh)["entries"]["ce_mlp"]
    # the same files, byte for byte: the training configuration was rebuilt from the stamp (its fingerprint is the
    # checkpoint's config_fingerprint, or add refuses) and the card from the same files
    assert added["files"] == stored["files"]
    assert {k: v for k, v in added.items() if k != "added_from"} == {k: v for k, v in stored.items() if k != "added_from"}
    assert json.loads((entry / "training.json").read_text())["training_config"]["epochs"] == 50
    with pytest.raises(EcgDataError, match=r"zoo entry 'ce_mlp' exists .*--replace"):
        add_entry(tmp_path / "project", "ce_mlp", zoo_copy)
    add_entry(tmp_path / "project", "ce_mlp", zoo_copy, replace=True)
    assert read_index(zoo_copy)["entries"]["ce_mlp"]["files"] == stored["files"]


def test_add_carries_the_newest_certificate_of_exactly_that_model_version(tmp_path):
    stored = read_index(ZOO)["entries"]["ibp_mlp"]
    project = tmp_path / "project"
    project_from(ZOO / "ibp_mlp", "ibp_mlp", project, stored["model_version"])
    # a newer certify output of another model version (same run name) must not be taken
    other = project / "data" / "08_reporting" / "certify" / "ibp_mlp.json" / "2099-01-01T00.00.00.000Z"
    other.mkdir(parents=True)
    metrics = json.loads((ZOO / "ibp_mlp" / "certified" / "certify.json").read_text())
    metrics["provenance"]["model"]["version"] = "2098-01-01T00.00.00.000Z"
    metrics["acc_robust_balanced"] = 0.999
    (other / "ibp_mlp.json").write_text(json.dumps(metrics))
    entry = add_entry(project, "ibp_mlp", tmp_path / "fresh-zoo")
    added = read_index(tmp_path / "fresh-zoo")["entries"]["ibp_mlp"]
    assert added["certify"] == stored["certify"] and stored["certify"]["method"] == "alpha_crown"
    assert added["files"] == stored["files"]   # the certificate, its stamp and the card, byte for byte
    assert {f"certified/certify.{kind}" for kind in ("json", "npz", "provenance.json")} <= set(added["files"])
    assert json.loads((entry / "certified" / "certify.json").read_text())["acc_robust_balanced"] != 0.999
    # without any certify output the model is still added, and the index says so
    shutil.rmtree(project / "data" / "08_reporting" / "certify")
    entry = add_entry(project, "ibp_mlp", tmp_path / "fresh-zoo", replace=True)
    added = read_index(tmp_path / "fresh-zoo")["entries"]["ibp_mlp"]
    assert added["certify"] is None and not (entry / "certified").exists()
    assert not any(f.startswith("certified/") for f in added["files"])
    assert "## Certified" not in (entry / "README.md").read_text()


def test_the_card_brackets_acc_robust_between_the_certified_bound_and_the_worst_case():
    certified = json.loads((ZOO / "ibp_mlp" / "certified" / "certify.json").read_text())
    worst = json.loads((ZOO / "ibp_mlp" / "worst_case.json").read_text())
    card = (ZOO / "ibp_mlp" / "README.md").read_text()
    low, high = certified["acc_robust_balanced"], worst["acc_robust_balanced"]
    assert 0 < low < high < 1   # the certified lower bound under the attacks' worst case
    assert f"**certified ACC_robust {low:.3f}**" in card
    assert f"bracket: ACC_robust in [{low:.3f}, {high:.3f}] (width {high - low:.3f})" in card
    assert [c["eps"] for c in certified["curve"]] == [w["eps"] for w in worst["curve"]]
    for lower, upper in zip(certified["curve"], worst["curve"]):   # per eps, the certified never above the worst
        assert lower["balanced_accuracy"] <= upper["balanced_accuracy"] + 1e-12
        assert (f"| {lower['eps']:g} | {lower['balanced_accuracy']:.3f} | {upper['balanced_accuracy']:.3f} | "
                f"{upper['balanced_accuracy'] - lower['balanced_accuracy']:.3f} | {lower['certified']} / ") in card


def test_every_card_is_generated_from_its_entry_and_the_zoo_is_small():
    for name in read_index(ZOO)["entries"]:
        assert (ZOO / name / "README.md").read_text() == model_card(ZOO / name)
    size = sum(p.stat().st_size for p in ZOO.rglob("*") if p.is_file())
    assert size < 20 * 2**20, f"the zoo holds {size / 2**20:.1f} MiB; the target is under 20"
