"""The headline says, per model, whether its worst case converged (evaluation.escalation): how many doublings ran,
where it stopped and why; the CSV's earlier columns keep their order (the new one comes last)."""

from __future__ import annotations

import numpy as np

from ecg_pipeline.datasets.optional import StoredArtifact
from ecg_pipeline.evaluation.escalation import CONVERGED, MAX_DOUBLINGS
from ecg_pipeline.reporting import headline
from ecg_pipeline.reporting.spec import ModelRun, ReportSpec
from ecg_pipeline.reporting.worst_cases import worst_cases

GRID = [0.0, 0.01, 0.03]
Y = np.array([0, 0, 0, 1, 1, 1])
VERSION = "2026-12-07T08.00.00.000Z"


def _escalation(doublings: int, stopped: str, last_move: float) -> dict:
    return {"max_doublings": 3, "tolerance": 0.005, "doublings": doublings, "stopped": stopped,
            "converged": stopped == CONVERGED, "last_move": last_move, "last_move_eps": 0.03, "added": 7,
            "rounds": [], "per_eps": []}


def _stored(attack: str, pred: list[list[int]], escalation: dict | None):
    metrics = {"attack": attack, "grid_param": "eps", "grid": GRID, "classes": ["N", "S"], "eps_max": 0.03,
               "model": {"fingerprint": "m"}, "flags": []}
    if escalation is not None:
        metrics["escalation"] = escalation
    examples = {"grid": np.array(GRID), "subset": np.arange(6), "subset_y": Y, "pred": np.asarray([Y, *pred])}
    return StoredArtifact(f"{attack}.json", VERSION, True, metrics), StoredArtifact(f"{attack}.npz", VERSION, True,
                                                                                    examples)


def _report(escalations: dict[str, dict | None]) -> tuple[dict, object]:
    runs = tuple(ModelRun(run, run.upper(), "mitdb", "MIT-BIH", "mlp", ("autoattack",), "kedro run",
                          reference="autoattack") for run in escalations)
    spec = ReportSpec(groups=(), attacks=("autoattack",), model_runs=runs)
    stored, shown = {}, {}
    for run, escalation in escalations.items():
        stored[f"{run}.autoattack"], shown[f"{run}.autoattack"] = _stored(
            "autoattack", [[0, 1, 0, 1, 1, 1], [1, 1, 0, 0, 1, 1]], escalation)
    combined = worst_cases(spec, stored, shown)
    return combined, headline.table(combined)


def test_the_headline_says_whether_the_worst_case_converged_and_why_it_stopped():
    combined, table = _report({"ce": _escalation(1, CONVERGED, 0.002), "nsr": _escalation(3, MAX_DOUBLINGS, 0.008),
                               "old": None})
    assert combined["nsr"]["escalation"]["autoattack"]["doublings"] == 3 and combined["old"]["escalation"] == {}
    words = dict(zip(table["model"], table["worst case converged"]))
    assert words["CE (ce)"].startswith("converged: autoattack converged after 1 doubling")
    assert "0.2 point at eps 0.03" in words["CE (ce)"]
    assert words["NSR (nsr)"] == ("not converged (autoattack): autoattack 3 doublings, still moving 0.8 point at "
                                  "eps 0.03 (max_doublings reached; 7 beats added)")
    assert words["OLD (old)"].startswith("not escalated")
    shown = headline.display(table)
    assert list(shown.columns[-2:]) == ["warnings", "worst case converged"]
    assert shown.loc["NSR (nsr)", "worst case converged"] == words["NSR (nsr)"]
    assert "not converged" in headline.markdown(table)


def test_the_csv_keeps_its_columns_in_order_and_adds_the_new_one_last():
    _, table = _report({"ce": _escalation(2, CONVERGED, 0.0)})
    assert list(table.columns) == headline.COLUMNS and headline.COLUMNS[-1] == "worst case converged"
    assert headline.COLUMNS[:3] == ["model", "split", "beats"] and headline.COLUMNS[-2] == "interval"
    assert table.loc[0, "worst-case ACC_robust"] == combined_acc_robust(table)


def combined_acc_robust(table) -> float:
    """The worst case's ACC_robust of the one model (beat 1 broken at 0.01; 0, 1 and 3 at 0.03): the stored per-beat
    outcome, escalated breaks included, is what the headline scores."""
    from ecg_pipeline.evaluation.metrics import classification_metrics, robust_score

    curve = [classification_metrics(Y, p, 2, ["N", "S"])["balanced_accuracy"]
             for p in (Y, [0, 1, 0, 1, 1, 1], [1, 1, 0, 0, 1, 1])]
    return robust_score(GRID, curve, 0.03)["robust"]
