"""The report's per-beat worst case (``pipelines.report.nodes.worst_cases``), in memory: it combines only
evaluations of one model of a run, the one its newest evaluation judged."""

from __future__ import annotations

import numpy as np

from ecg_pipeline.datasets.optional import StoredArtifact
from ecg_pipeline.pipelines.report.nodes import worst_cases
from ecg_pipeline.reporting.spec import ModelRun, ReportSpec

GRID = [0.0, 0.1]
Y = np.array([0, 0, 1, 1])


def evaluation(attack: str, version: str, model: dict, pred_at_eps: list[int]) -> tuple[StoredArtifact, StoredArtifact]:
    metrics = {"attack": attack, "grid_param": "eps", "grid": GRID, "classes": ["N", "S"], "eps_max": 0.1,
               "acc_robust_balanced": 0.5, "model": model}
    examples = {"grid": np.array(GRID), "subset": np.arange(4), "subset_y": Y, "pred": np.stack([Y, pred_at_eps])}
    return (StoredArtifact(f"{attack}.json", version, True, metrics),
            StoredArtifact(f"{attack}.npz", version, True, examples))


def test_evaluations_of_an_earlier_model_of_the_run_are_not_combined():
    spec = ReportSpec(groups=(), attacks=("pgd", "square"), model_runs=(
        ModelRun("ce_cnn", "CE", "mitdb", "MIT-BIH", "kachuee_cnn", ("pgd", "square"), "kedro run"),))
    old_model = {"run": "ce_cnn", "fingerprint": "a", "epochs": 10, "final": {"epoch": 10}}
    new_model = {"run": "ce_cnn", "fingerprint": "b", "epochs": 50, "final": {"epoch": 50}}
    # square judged the old model and broke every beat; pgd judged the retrained one and broke one
    square = evaluation("square", "2026-12-01T10.00.00.000Z", old_model, [1, 1, 0, 0])
    pgd = evaluation("pgd", "2026-12-02T10.00.00.000Z", new_model, [1, 0, 1, 1])
    stored = {"ce_cnn.square": square[0], "ce_cnn.pgd": pgd[0]}
    shown = {"ce_cnn.square": square[1], "ce_cnn.pgd": pgd[1]}

    combined = worst_cases(spec, stored, shown)["ce_cnn"]
    assert combined["stale"] == ["square"]
    assert combined["attacks"] == ["pgd"]
    assert combined["curve"][1]["accuracy"] == 0.75  # pgd's one break, not square's four

    # the same model on both: combined, square's breaks count
    stored["ce_cnn.square"] = evaluation("square", "2026-12-01T10.00.00.000Z", new_model, [1, 1, 0, 0])[0]
    combined = worst_cases(spec, stored, shown)["ce_cnn"]
    assert combined["stale"] == [] and sorted(combined["attacks"]) == ["pgd", "square"]
    assert combined["curve"][1]["accuracy"] == 0.0
