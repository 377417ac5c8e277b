"""No silent mixing (issue 26): a stored split or model made with another env, data root or configuration never
stands in for what this run would make. Real Kedro runs on the shared data, in throwaway project copies."""

from __future__ import annotations

import contextlib
import logging

import pytest

from ecg_pipeline.errors import EcgDataError

MODEL = "data/06_models/ce_mlp.pt"


@contextlib.contextmanager
def _warnings_of(logger: str):
    """The warnings ``logger`` emits meanwhile (Kedro's rich console wraps them; caplog loses its handler when
    a session configures logging)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    handler = Collect()
    logging.getLogger(logger).addHandler(handler)
    try:
        yield messages
    finally:
        logging.getLogger(logger).removeHandler(handler)


def _other_env(project, name: str, text: str) -> None:
    """An env of the project copy's own, like conf/quick: a few keys over conf/base (and ci's globals)."""
    folder = project.path / "conf" / name
    folder.mkdir()
    (folder / "parameters.yml").write_text(text)


def test_a_split_from_another_env_is_refused_before_training(empty_project):
    # The issue: after `kedro run --env=quick`, a base-configuration `train_nsr --namespaces=nsr_mlp` trained on
    # the quick split (same versioned datasets, newest version loaded). Here env "small" plays quick's part.
    _other_env(empty_project, "small", "segmentation:\n  max_beats_per_class: 300\n")
    empty_project.run("data_mitdb", env="small")
    with pytest.raises(EcgDataError) as err:
        empty_project.run("train_ce", namespaces=["ce_mlp"])  # env ci: 400 beats per class
    message = str(err.value)
    assert "mitdb_train_balanced version " in message
    assert "segmentation.max_beats_per_class=300 (this run: 400)" in message
    assert "env 'small'; this run: 'ci'" in message
    # the rebuild command is this run's: its env and parameters, the database's whole data pipeline
    assert "`kedro run --pipelines=data_mitdb --env=ci --params=data_root=" in message
    assert empty_project.versions(MODEL) == []  # refused before the training node ran

    # rebuilt with this run's configuration, the same command trains (a matching stamp is no obstacle)
    empty_project.run("data_mitdb")
    empty_project.run("train_ce", namespaces=["ce_mlp"])
    assert len(empty_project.versions(MODEL)) == 1

    # a split written before stamps existed proves nothing either way: warned about, loudly, not refused
    for stamp in (empty_project.path / "data" / "05_model_input").rglob(".mitdb_train_balanced.npz.provenance"):
        stamp.unlink()
    with _warnings_of("ecg_pipeline.hooks") as warned:
        empty_project.run("train_ce", namespaces=["ce_mlp"])
    assert any(w.startswith("NO PROVENANCE STAMP on stored input(s) mitdb_train_balanced:") for w in warned)
    assert len(empty_project.versions(MODEL)) == 2


def test_a_split_from_a_runtime_override_is_refused_naming_the_parameter(empty_project):
    # The issue: after a split built from one record (a --params override of ingestion), train_ce trained on it.
    one_record = {"ingestion": {"mitdb": {"records": ["208"]}}}
    empty_project.run("data_mitdb", runtime_params=one_record)
    with pytest.raises(EcgDataError, match=r'ingestion\.mitdb\.records=\["208"\] \(this run: \["100", "119", "208"'):
        empty_project.run("train_ce", namespaces=["ce_mlp"])
    assert empty_project.versions(MODEL) == []


def test_printed_commands_carry_env_and_params(empty_project):
    # Copied from a ci run, a suggested command must rerun the ci configuration, not start a base one.
    with pytest.raises(EcgDataError, match=r"stored input\(s\) missing") as missing:
        empty_project.run("train_ce", namespaces=["ce_mlp"], runtime_params={"runs": {"ce_mlp": {"epochs": 1}}})
    assert ("`kedro run --pipelines=resampling --env=ci --params=data_root="
            f"{empty_project.data_root},runs.ce_mlp.epochs=1` first") in str(missing.value)
    with pytest.raises(EcgDataError, match="run it afterwards") as order:
        empty_project.run(["attack", "report"])
    assert (f"`kedro run --pipelines=attack --env=ci --params=data_root={empty_project.data_root} && "
            f"kedro run --pipelines=report --env=ci --params=data_root={empty_project.data_root}`") in str(order.value)
