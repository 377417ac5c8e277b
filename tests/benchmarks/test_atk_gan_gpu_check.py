"""The GPU check script runs unchanged on the CPU at tiny sizes: the declared atk_gan run through the trainer,
and a projection that follows from its own measured step time."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "atk_gan_gpu_check.py"


def test_gpu_check_runs_on_cpu_at_tiny_sizes(capsys):
    spec = importlib.util.spec_from_file_location("atk_gan_gpu_check", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    result = script.main(["--beats", "96", "--epochs", "2", "--width", "4", "--batch", "32", "--threads", "1",
                          "--device", "cpu"])
    out = capsys.readouterr().out
    assert "synthetic training set of 96 beats (3 batches of 32)" in out and out.count("\nepoch ") == 2
    assert result["step_s"] == pytest.approx(result["epoch_s"] / 3)
    batches = -(-script.PAPER_EPOCH_BEATS // 32)
    assert result["paper_100_epochs_h"] == pytest.approx(100 * result["step_s"] * batches / 3600)
    assert script.declared_run()["batch_size"] == 128 and script.declared_run()["epochs"] == 100
