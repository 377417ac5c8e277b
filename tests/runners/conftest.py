"""The ci Kedro projects of ``tests/pipelines`` (a throwaway project copy, the MIT-BIH stages built once per test
session), for the runner tests: that conftest is loaded by its path, pytest imports every conftest as ``conftest``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PIPELINES_CONFTEST = Path(__file__).parents[1] / "pipelines" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_pipelines_conftest", _PIPELINES_CONFTEST)
_pipelines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pipelines)

KedroProject = _pipelines.KedroProject
new_project = _pipelines.new_project
processed_mitdb = _pipelines.processed_mitdb  # the fixture, re-exported: pytest finds it in this module


@pytest.fixture(scope="session")
def make_project(project_root, shared_data):
    """``make_project(path)``: a ci project copy at ``path`` (``tests/pipelines``' ``new_project``)."""
    return lambda path: new_project(path, project_root, shared_data)
