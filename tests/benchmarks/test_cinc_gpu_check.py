"""The CinC GPU check runs unchanged on the CPU at tiny sizes: the declared ce_cinc run's optimiser and batch
on real padded CinC 2017 records (12 records of the real zip, padded as the data pipeline pads them), a
projection that follows from its own measured step time, and a decorrelated member's step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ecg_pipeline.data.cinc2017 import pad_cinc2017, read_cinc2017

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cinc_gpu_check.py"


def test_cinc_gpu_check_runs_on_cpu_at_tiny_sizes(shared_data, tmp_path, capsys):
    padded = pad_cinc2017(read_cinc2017(shared_data / "cinc2017" / "training2017.zip", max_records=12), length=18000)
    data = tmp_path / "cinc2017_few.npz"
    np.savez(data, **padded)
    spec = importlib.util.spec_from_file_location("cinc_gpu_check", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    result = script.main(["--data", str(data), "--records", "12", "--width", "0.0625", "--steps", "2",
                          "--decorrelated-steps", "1", "--batch", "4", "--threads", "1", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "(12 records, 18000 samples)" in out and "HanCNN width 0.0625" in out
    run = script.declared_run()
    assert (run["batch_size"], run["lr"], run["epochs"], run["extra_copies"]) == (64, 1e-3, 200, {"~": 5, "A": 1})
    records = 6907 + 1 * 598 + 5 * 230          # the training split, plus one copy of each A and five of each ~
    assert script.epoch_records(run["extra_copies"]) == records
    assert result["epoch_batches"] == -(-records // 4)
    assert result["paper_200_epochs_h"] == pytest.approx(200 * result["step_s"] * result["epoch_batches"] / 3600)
    assert result["decorrelated_step_s"] > 0 and result["decorrelated_over_ce"] == pytest.approx(
        result["decorrelated_step_s"] / result["step_s"])
