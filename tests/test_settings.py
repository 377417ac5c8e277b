"""Project settings as a newcomer meets them: a kedro command with no telemetry variables set sends
nothing, writes nothing into pyproject.toml, and prints none of the known library noise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def test_a_kedro_command_is_quiet_and_leaves_the_checkout_clean(project_root, tmp_path):
    for name in ("conf", "src"):
        shutil.copytree(project_root / name, tmp_path / name, ignore=shutil.ignore_patterns("local", "*.egg-info"))
    (tmp_path / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(project_root / name, tmp_path / name)
    before = (tmp_path / "pyproject.toml").read_text()
    env = {k: v for k, v in os.environ.items() if k not in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    env["PYTHONPATH"] = str(tmp_path / "src")
    out = subprocess.run([sys.executable, "-m", "kedro", "registry", "list"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    text = out.stdout + out.stderr
    assert (tmp_path / "pyproject.toml").read_text() == before  # telemetry never writes a project_id
    assert "telemetry" not in text.lower()
    assert "register_new_resolver" not in text and "dataset names contain" not in text
    assert "Warning" not in text
    assert "- main" in text and "- data_mitdb" in text
