"""Real Kedro runs in the ``ci`` environment, in a throwaway copy of the project (conf + pyproject),
so tests never write into the working tree's data/ folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

LAYERS = ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
          "07_model_output", "08_reporting")


class KedroProject:
    def __init__(self, path: Path, data_root: Path):
        self.path = path
        self.data_root = data_root

    def run(self, pipeline: str | list[str] | None = None, *, env: str = "ci", runtime_params: dict | None = None,
            **run_args):
        bootstrap_project(self.path)
        params = {"data_root": str(self.data_root), **(runtime_params or {})}
        names = [pipeline] if isinstance(pipeline, str) else pipeline
        with KedroSession.create(project_path=self.path, env=env, runtime_params=params) as session:
            return session.run(pipeline_names=names or None, **run_args)

    def catalog(self, env: str = "ci", runtime_params: dict | None = None):
        bootstrap_project(self.path)
        params = {"data_root": str(self.data_root), **(runtime_params or {})}
        with KedroSession.create(project_path=self.path, env=env, runtime_params=params) as session:
            return session.load_context().catalog

    def versions(self, relative: str) -> list[str]:
        folder = self.path / relative
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def new_project(path: Path, project_root: Path, shared_data: Path) -> KedroProject:
    shutil.copytree(project_root / "conf", path / "conf", ignore=shutil.ignore_patterns("local"))
    (path / "conf" / "local").mkdir()
    shutil.copy(project_root / "pyproject.toml", path / "pyproject.toml")
    (path / "src").mkdir()  # Kedro wants a source dir; the package itself is the installed one
    for layer in LAYERS:
        (path / "data" / layer).mkdir(parents=True)
    return KedroProject(path, shared_data)


@pytest.fixture(scope="session")
def kedro_project(tmp_path_factory, project_root, shared_data) -> KedroProject:
    """One project copy for the whole session: later stages reuse earlier stages' artifacts."""
    return new_project(tmp_path_factory.mktemp("project"), project_root, shared_data)


@pytest.fixture(scope="module")
def module_project(tmp_path_factory, project_root, shared_data) -> KedroProject:
    """A project copy of the test module's own: it knows exactly what is stored (also under ``-n 0``,
    where the session's copy holds every other module's artifacts too)."""
    return new_project(tmp_path_factory.mktemp("module"), project_root, shared_data)


@pytest.fixture
def empty_project(tmp_path, project_root, shared_data) -> KedroProject:
    """A project copy with nothing produced yet."""
    return new_project(tmp_path, project_root, shared_data)


#: the MIT-BIH data stages tests start from: what each runs in a fresh project (``ingest_mitdb`` alone; the others
#: on the stored record table of ``ingest_mitdb``)
MITDB_STAGES = {"ingest_mitdb": ("ingestion", {"node_names": ["ingest_mitdb"]}),
                "data_mitdb": ("data_mitdb", {"only_missing_outputs": True}),
                "data_atk_gan": ("data_atk_gan", {})}


@pytest.fixture(scope="session")
def processed_mitdb(build_once, project_root, shared_data):
    """``processed_mitdb(project, stage)`` stores in ``project`` what the MIT-BIH ``stage`` (``MITDB_STAGES``)
    stores, by copying it, stamps included: each stage is run once per test session (``built_once``, shared by
    the xdist workers) in a project copy of its own, in the ``ci`` env on ``shared_data``, the configuration
    every module project has, so the copied stamps match the stamps a run in ``project`` expects (the
    ProvenanceHook refuses the copies otherwise). The record table is read from raw once, not once per module."""
    key = [str(shared_data), build_once.files_key(shared_data / "mitdb", shared_data / "nstdb"),
           build_once.files_key(project_root / "conf", project_root / "src", content=True)]

    def stage_data(stage: str) -> Path:
        def build(folder: Path) -> None:
            project = new_project(folder / "project", project_root, shared_data)
            if stage != "ingest_mitdb":
                shutil.copytree(stage_data("ingest_mitdb"), project.path / "data", dirs_exist_ok=True)
            pipeline, run_args = MITDB_STAGES[stage]
            project.run(pipeline, **run_args)
            shutil.move(project.path / "data", folder / "data")
            shutil.rmtree(project.path)

        return build_once(f"mitdb_{stage}", [stage, *key], build) / "data"

    def seed(project: KedroProject, stage: str) -> KedroProject:
        shutil.copytree(stage_data(stage), project.path / "data", dirs_exist_ok=True)
        return project

    return seed


@pytest.fixture(scope="session")
def base_parameters(project_root):
    """The merged parameters of conf/base alone (what a project with no local overrides declares)."""
    from kedro.config import OmegaConfigLoader

    from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(project_root / "conf"), env="base",
                               **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})
    return loader["parameters"]
