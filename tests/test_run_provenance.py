"""Provenance (issue 26, part 7): what a result was made with, in every metrics JSON, with relative paths."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ecg_pipeline import run_context, run_provenance

KEYS = {"commit", "dirty", "env", "runtime_params", "packages", "machine", "ecg_pipeline_version"}


@pytest.fixture
def session_context(tmp_path):
    """A session's context as the declaration hook records it (a project in tmp_path), restored afterwards."""
    before = run_context.current()
    (tmp_path / "conf").mkdir()
    run_context.set_current("ci", {"data_root": str(tmp_path.parent / "shared" / "data"), "runs": {"ce_mlp": {"epochs": 3}}},
                            str(tmp_path / "conf"))
    yield tmp_path
    run_context.set_current(before.env, before.runtime_params, before.conf_source)


def absolute_strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in absolute_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in absolute_strings(v)]
    return [value] if isinstance(value, str) and os.path.isabs(value) else []


def test_collect_names_code_session_packages_and_machine(session_context, project_root):
    record = run_provenance.collect()
    assert set(record) == KEYS
    head = subprocess.run(["git", "-C", str(project_root), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert record["commit"] == head.stdout.strip() and isinstance(record["dirty"], bool)
    assert record["env"] == "ci"
    assert record["runtime_params"] == {"data_root": "../shared/data", "runs": {"ce_mlp": {"epochs": 3}}}
    assert set(record["packages"]) == {"python", *run_provenance.PACKAGES}
    assert record["packages"]["torch"] and record["packages"]["kedro"]
    assert set(record["machine"]) == {"platform", "processor", "cpu_capability", "torch_num_threads"}
    assert record["machine"]["torch_num_threads"] >= 1
    assert not absolute_strings(record)
    json.dumps(record)  # plain JSON


def test_git_is_asked_once_per_process(session_context):
    run_provenance.collect()
    calls = run_provenance.git_state.cache_info()
    for _ in range(3):
        run_provenance.collect()
    assert run_provenance.git_state.cache_info().misses == calls.misses


def test_outside_git_the_commit_is_none(monkeypatch, tmp_path):
    monkeypatch.setattr(run_provenance, "_PACKAGE_DIR", tmp_path)
    run_provenance.git_state.cache_clear()
    try:
        assert run_provenance.git_state() == (None, None)
    finally:
        run_provenance.git_state.cache_clear()


def test_split_fingerprint_is_the_models_data_fingerprint(synthetic_beats):
    from ecg_pipeline.defenses.fit import data_fingerprint

    split, other = synthetic_beats(5), synthetic_beats(5, seed=1)
    assert run_provenance.data_fingerprint(split) == data_fingerprint(split)
    assert run_provenance.data_fingerprint(split) != run_provenance.data_fingerprint(other)


def test_loaded_versions_are_recorded_per_object_and_forgotten(session_context):
    model, split = object(), {"y": [1]}
    run_provenance.note_loaded(model, "ce_mlp.model", "2026-01-01T00.00.00.000Z",
                               str(session_context / "data" / "06_models" / "ce_mlp.pt"))
    assert run_provenance.loaded_as(model) == {"dataset": "ce_mlp.model", "version": "2026-01-01T00.00.00.000Z",
                                               "filepath": "data/06_models/ce_mlp.pt"}
    assert run_provenance.loaded_as(split) == {}
    run_provenance.forget([model])
    assert run_provenance.loaded_as(model) == {}


def test_every_evaluation_carries_its_provenance(synthetic_beats, session_context):
    from ecg_pipeline.defenses import TrainingConfig, fit
    from ecg_pipeline.evaluation import AttackSpec, evaluate

    config = TrainingConfig(model={"name": "mlp"}, epochs=1, batch_size=32, progress=False, device="cpu")
    model, meta, _ = fit(config, synthetic_beats(10), None, checkpoints=None, run_name="tiny")
    model.meta = meta
    data = synthetic_beats(4, seed=1)
    run_provenance.note_loaded(model, "tiny.model", "2026-01-01T00.00.00.000Z")
    run_provenance.note_loaded(data, "mitdb_test", "2026-01-02T00.00.00.000Z")
    spec = AttackSpec.from_params({"grid": [0, 0.05], "eps_max": 0.05, "progress": False, "num_threads": 1,
                                   "params": {"steps": 2, "step_size": 0.02}}, "pgd")
    try:
        metrics, _ = evaluate(model, data, spec, name="tiny.pgd")
    finally:
        run_provenance.forget([model, data])
    record = metrics["provenance"]
    assert KEYS <= set(record)
    assert record["model"] == {"fingerprint": meta["fingerprint"], "version": "2026-01-01T00.00.00.000Z",
                               "data_fingerprint": meta["data_fingerprint"], "dataset": "tiny.model"}
    assert record["test_data"] == {"dataset": "mitdb_test", "version": "2026-01-02T00.00.00.000Z",
                                   "fingerprint": run_provenance.data_fingerprint(data)}
    assert record["machine"]["torch_num_threads"] == 1  # the evaluation's own thread count
    assert not absolute_strings(record)
    json.loads(json.dumps(metrics, default=float))


def test_outside_a_run_versions_are_none(synthetic_beats):
    from ecg_pipeline.evaluation.evaluate import provenance
    from ecg_pipeline.models import build_model

    record = provenance(build_model("mlp"), synthetic_beats(2))
    assert record["model"]["version"] is None and record["test_data"]["version"] is None
    assert record["test_data"]["fingerprint"]


def test_relative_paths_beside_and_inside_the_project(tmp_path):
    assert run_provenance.relative(tmp_path / "data" / "x.npz", tmp_path) == "data/x.npz"
    assert run_provenance.relative(tmp_path.parent / "shared", tmp_path) == "../shared"
    assert run_provenance.relative("data/x.npz", tmp_path) == "data/x.npz"
