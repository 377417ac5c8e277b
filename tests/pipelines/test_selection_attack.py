"""Model selection follows the declared attack (issue 28 item 3): a sweep scores its members on the validation split
with ``model_selection.attack``, by default ``worst_case_selection`` (APGD-CE, APGD-T and Square, each on the beats
still unbroken), seed 001's PGD one parameter away. Pipelines as the registry builds them, run on an in-memory
catalog with tiny synthetic beats."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipeline_registry import build_pipelines
from ecg_pipeline.pipelines.declaration import read_declaration

SWEEP, MEMBERS = "nsr_mlp_sweep", ("beta_0p1", "beta_0p4")


@pytest.fixture(scope="module")
def parameters(base_parameters):
    """conf/base with a two-member sweep, 2 epochs, and both selection attacks at a tiny budget."""
    params = copy.deepcopy(dict(base_parameters))
    params["runs"]["nsr_mlp"].update(epochs=2, batch_size=32, progress=False, device="cpu")
    params["sweeps"] = {SWEEP: {**params["sweeps"][SWEEP], "values": [0.1, 0.4]}}
    tiny = {"grid": [0.0, 0.05], "eps_max": 0.05, "per_class": None, "progress": False}
    params["attacks"]["pgd"].update(tiny, params={"steps": 5, "step_size": 0.02})
    params["attacks"]["worst_case_selection"].update(
        tiny, params={**params["attacks"]["worst_case_selection"]["params"], "steps": 5, "max_queries": 30})
    return params


def test_the_default_selection_attack_is_a_worst_case_of_apgd_t_and_square(base_parameters):
    declaration = read_declaration(base_parameters)
    for data in ("mitdb", "mitdb_ip"):   # the inter-patient split is selected as its data is
        assert declaration.selection_attack_for(declaration.data[data]) == "worst_case_selection"
    spec, full = (declaration.attack_spec(a, "mitdb") for a in ("worst_case_selection", "autoattack"))
    assert spec.attack == "autoattack" and {"apgd_t", "square"} <= set(spec.params["attacks"])
    # smaller budgets than the judging AutoAttack, on the same grid and beats
    assert spec.params["steps"] < full.params["steps"] and spec.params["max_queries"] < full.params["max_queries"]
    assert spec.escalation is None and not spec.diagnostics
    assert (spec.grid, spec.per_class, spec.eps_max) == (full.grid, full.per_class, full.eps_max)
    # CPSC 2018 and CinC 2017 keep their own
    assert declaration.selection_attack_for(declaration.data["cpsc2018"]) == "pgd_cpsc"
    pgd = read_declaration({**base_parameters, "model_selection": {"attack": "pgd"}})
    assert pgd.selection_attack_for(pgd.data["mitdb"]) == "pgd"


class Kept(MemoryDataset):
    """A memory dataset the runner does not empty after its last reader: the test reads every one afterwards."""

    def _release(self) -> None:
        pass


class ModelInMemory(Kept):
    """``<run>.model`` as TorchModelDataset hands it on: the trained module with its ``meta`` attached."""

    def save(self, data):
        if isinstance(data, dict) and set(data) == {"model", "meta"}:
            data["model"].meta = data["meta"]
            data = data["model"]
        super().save(data)


def _value(params: dict, dotted: str):
    for key in dotted.split("."):
        params = params[key]
    return params


@pytest.mark.parametrize("attack, algorithm", [("worst_case_selection", "autoattack"), ("pgd", "pgd")])
def test_the_sweep_trains_scores_and_selects_by_the_declared_attack(parameters, attack, algorithm, synthetic_beats,
                                                                     tmp_path):
    params = {**parameters, "model_selection": {"attack": attack}}
    pipeline = build_pipelines(read_declaration(params))["sweep"].only_nodes_with_namespaces([SWEEP])
    evaluation = f"{attack}_validation"
    assert pipeline.only_nodes(f"{SWEEP}.select").inputs() == {
        f"{SWEEP}.{m}.{kind}" for m in MEMBERS for kind in ("model", f"{evaluation}.metrics")}
    data = {"mitdb_train_balanced": synthetic_beats(20), "mitdb_validation": synthetic_beats(6, seed=1)}
    inputs = {}
    for name in pipeline.inputs():
        if name.startswith("params:"):
            inputs[name] = _value(params, name[len("params:"):])
        elif name.endswith(".checkpoints"):
            inputs[name] = tmp_path / name
        else:
            inputs[name] = data[name]
    catalog = DataCatalog({name: MemoryDataset(value, copy_mode="assign") for name, value in inputs.items()})
    for name in pipeline.all_outputs():
        catalog[name] = (ModelInMemory if name.endswith(".model") else Kept)(copy_mode="assign")
    SequentialRunner().run(pipeline, catalog)
    table = catalog.load(f"{SWEEP}.selection")
    scores = {m: catalog.load(f"{SWEEP}.{m}.{evaluation}.metrics") for m in MEMBERS}
    assert set(table["scored_by"]) == {evaluation} and set(table["attack"]) == {algorithm}
    for _, row in table.iterrows():
        assert row["acc_robust_balanced"] == pytest.approx(scores[row["member"]]["acc_robust_balanced"])
    best = max(MEMBERS, key=lambda m: (scores[m]["acc_robust_balanced"], scores[m]["curve"][0]["balanced_accuracy"],
                                       -float(m.split("_")[1].replace("p", "."))))
    selected = catalog.load(f"{SWEEP}.model")
    assert table.loc[0, "member"] == best and selected.meta["selected_member"] == f"{SWEEP}.{best}"
    assert selected.meta["selection"]["attack"] == attack
    assert selected is catalog.load(f"{SWEEP}.{best}.model")


def _metrics(member: str, evaluation: str, robust: float) -> dict:
    return {"run": f"{SWEEP}.{member}.{evaluation}", "acc_robust_balanced": robust,
            "curve": [{"balanced_accuracy": 0.9, "accuracy": 0.9}]}


def test_pgd_and_the_worst_case_pick_different_members_when_they_disagree(parameters):
    # beta 0.4 masks the gradient: PGD scores it best, the worst case (Square finds what PGD missed) worst
    stored = {**{f"{SWEEP}.{m}.pgd_validation.metrics": _metrics(m, "pgd_validation", r)
                 for m, r in zip(MEMBERS, (0.50, 0.70))},
              **{f"{SWEEP}.{m}.worst_case_selection_validation.metrics":
                 _metrics(m, "worst_case_selection_validation", r) for m, r in zip(MEMBERS, (0.45, 0.20))},
              **{f"{SWEEP}.{m}.model": SimpleNamespace(meta={"run": m}) for m in MEMBERS}}
    chosen = {}
    for attack in ("worst_case_selection", "pgd"):
        select = build_pipelines(read_declaration({**parameters, "model_selection": {"attack": attack}})
                                 )["sweep"].only_nodes(f"{SWEEP}.select")
        catalog = DataCatalog({n: MemoryDataset(v, copy_mode="assign") for n, v in stored.items()})
        SequentialRunner().run(select, catalog)
        chosen[attack] = catalog.load(f"{SWEEP}.model")["meta"]["selected_member"]
    assert chosen == {"worst_case_selection": f"{SWEEP}.beta_0p1", "pgd": f"{SWEEP}.beta_0p4"}


def test_a_member_scored_by_another_attack_is_refused(parameters):
    select = build_pipelines(read_declaration(parameters))["sweep"].only_nodes(f"{SWEEP}.select")
    node = select.nodes[0]
    wrong = [_metrics(MEMBERS[0], "worst_case_selection_validation", 0.4),
             _metrics(MEMBERS[1], "pgd_validation", 0.9)]
    with pytest.raises(EcgDataError, match=r"sweep member 'beta_0p4'.*'pgd_validation'.*expected "
                                           r"'worst_case_selection_validation'"):
        node.func(*wrong, SimpleNamespace(meta={}), SimpleNamespace(meta={}))
