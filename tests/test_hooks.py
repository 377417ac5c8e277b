"""The missing-input message names the command that writes the input, narrowed to its run where the family
pipeline holds runs of several databases; the hooks' adapter to Kedro (``hooks/kedro_adapter.py``) still finds
what it assumes in the installed Kedro."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path, PurePosixPath

from ecg_pipeline.hooks import producer_command


def test_a_missing_model_names_its_own_run_not_the_whole_family():
    assert producer_command("ce_cpsc.model") == "kedro run --pipelines=train_ce --namespaces=ce_cpsc"
    assert producer_command("dec_mlp_m1.train_features") == "kedro run --pipelines=train_ens --namespaces=dec_mlp_m1"


def test_a_stage_output_names_its_stage_and_unknown_names_nothing():
    assert producer_command("mitdb_train") == "kedro run --pipelines=segmentation"
    assert producer_command("atk_gan_train_set") == "kedro run --pipelines=attack_generation"
    assert producer_command("no_such_dataset") is None


def test_a_printed_command_repeats_the_sessions_env_and_params():
    # Copied from a quick or ci run, the command must stay in that configuration (issue 26: they dropped it).
    from ecg_pipeline import run_context

    run_context.set_current("quick", {"data_root": "/data", "runs": {"ce_mlp": {"epochs": 3}}}, "conf")
    try:
        assert producer_command("ce_cpsc.model") == ("kedro run --pipelines=train_ce --namespaces=ce_cpsc --env=quick "
                                                     "--params=data_root=/data,runs.ce_mlp.epochs=3")
        assert producer_command("atk_gan_train_set").endswith("--pipelines=attack_generation --env=quick "
                                                              "--params=data_root=/data,runs.ce_mlp.epochs=3")
    finally:
        run_context.set_current(None, None, None)


# ---- the adapter: what the hooks assume of Kedro, checked against the installed version ---------------------------


def _json_dataset(path: Path | str, versioned: bool):
    from kedro.io import Version
    from kedro_datasets.json import JSONDataset

    return JSONDataset(filepath=str(path), version=Version(None, None) if versioned else None)


def test_the_adapter_finds_the_version_a_versioned_dataset_saved_and_loads(tmp_path):
    from ecg_pipeline.hooks.kedro_adapter import dataset_filepath, load_path, stored_file

    dataset = _json_dataset(tmp_path / "metrics.json", versioned=True)
    assert load_path(dataset) is None and stored_file(dataset, load=True) is None  # nothing stored yet
    assert stored_file(dataset, load=False) is None
    dataset.save({"acc": 0.5})
    path, version = stored_file(dataset, load=False)
    assert Path(path) == tmp_path / "metrics.json" / version / "metrics.json"
    assert json.loads(Path(path).read_text()) == {"acc": 0.5}
    assert stored_file(dataset, load=True) == (path, version) and load_path(dataset) == Path(path)
    assert dataset_filepath(dataset) == PurePosixPath(tmp_path / "metrics.json")
    from kedro.io import Version
    from kedro_datasets.json import JSONDataset

    later = JSONDataset(filepath=str(tmp_path / "metrics.json"), version=Version(None, "9999-01-01T00.00.00.000Z"))
    later.save({"acc": 0.7})  # a later run's version: the one a load reads
    assert stored_file(later, load=False)[1] == "9999-01-01T00.00.00.000Z"
    newer, newer_version = stored_file(_json_dataset(tmp_path / "metrics.json", versioned=True), load=True)
    assert newer_version == "9999-01-01T00.00.00.000Z" and json.loads(Path(newer).read_text()) == {"acc": 0.7}


def test_the_adapter_reads_an_unversioned_file_and_skips_what_is_not_a_local_file(tmp_path):
    from kedro.io import MemoryDataset

    from ecg_pipeline.hooks.kedro_adapter import load_path, stored_file

    dataset = _json_dataset(tmp_path / "table.json", versioned=False)
    dataset.save([1, 2])
    assert stored_file(dataset, load=False) == (str(tmp_path / "table.json"), None)
    assert stored_file(dataset, load=True) == (str(tmp_path / "table.json"), None)
    assert load_path(dataset) == tmp_path / "table.json"
    remote = _json_dataset("memory://ecg-adapter-test/table.json", versioned=False)
    remote.save([1])
    assert stored_file(remote, load=True) is None  # remote files carry no local stamp
    assert stored_file(MemoryDataset([1]), load=True) is None and load_path(MemoryDataset([1])) is None


def test_rebuilding_the_registered_pipelines_calls_the_registry_again(monkeypatch):
    """The DeclarationHook's rebuild: Kedro caches the pipelines its registry built, and ``configure`` (public) must
    drop them, so that a later session's configuration builds its own."""
    from kedro.framework.project import pipelines
    from kedro.pipeline import Pipeline

    from ecg_pipeline.hooks.kedro_adapter import rebuild_registered_pipelines

    built = []
    registry_module = types.ModuleType("ecg_adapter_test_registry")
    registry_module.register_pipelines = lambda: built.append(len(built)) or {"p": Pipeline([])}
    monkeypatch.setitem(sys.modules, registry_module.__name__, registry_module)
    registry = type(pipelines)()  # a registry like Kedro's own, not the process's
    registry.configure(registry_module.__name__)
    registry.set_requested(["p"])  # what `kedro run --pipelines=p` does first
    assert "p" in registry and "p" in registry and built == [0]  # built once, then cached
    assert rebuild_registered_pipelines(registry, registry_module.__name__)
    assert "p" in registry and built == [0, 1]


def test_no_private_kedro_attribute_outside_the_adapter():
    """The hooks, the tracking hook and the declaration reach Kedro's internals only through ``kedro_adapter``."""
    import re

    src = Path(__file__).resolve().parents[1] / "src" / "ecg_pipeline"
    private = re.compile(r"\._(get_load_path|get_versioned_path|filepath|version|protocol|requested_pipelines"
                         r"|register_globals_resolver|load_data|content|is_data_loaded)\b"
                         r"|(getattr|hasattr)\([^,]+, \"_\w+\"")  # getattr(obj, "_private")
    files = [*sorted((src / "hooks").glob("*.py")), *sorted((src / "pipelines" / "declaration").glob("*.py")),
             src / "tracking.py", src / "settings.py", src / "pipeline_registry.py", src / "cli.py"]
    found = [f"{path.name}:{n}" for path in files if path.name != "kedro_adapter.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if private.search(line)]
    assert found == []
