"""The Table 4 time script (issue 15, part 3) runs unchanged on the CPU at tiny sizes, and its projection is the
arithmetic its output claims: 10 runs x 50 epochs x 2,266 steps of the measured step times, and each
attack scaled linearly to 1,161 beats, 6 eps, 100 steps and 5,000 queries, for 5 runs per architecture."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "table4_time.py"


@pytest.fixture
def script():
    spec = importlib.util.spec_from_file_location("table4_time", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    yield module
    torch.set_num_threads(threads)


def test_table4_projection_follows_from_measured_steps_and_attacks(script, tmp_path, capsys):
    result = script.main(["--device", "cpu", "--steps", "2", "--other-steps", "1", "--beats", "8",
                          "--attack-steps", "2", "--max-queries", "10", "--data", str(tmp_path)])
    out = capsys.readouterr().out
    assert result["device"] == "cpu"
    assert "SYNTHETIC beats" in out and "the GPU's is not measured" in out

    steps = result["measured"]["steps"]
    assert {arch for arch, _ in steps} == {"kachuee_cnn", "mlp"}
    assert steps[("kachuee_cnn", "ce")][2] == 2 and steps[("kachuee_cnn", "nsr")][2] == 2
    assert steps[("kachuee_cnn", "jacob")][2] == 1 and steps[("mlp", "adv")][2] == 1
    # nsr_code is projected at NSR's cost: 10 runs in all, 5 per architecture
    wall_train = sum(steps[(arch, "nsr" if run == "nsr_code" else run)][0]
                     for arch in ("kachuee_cnn", "mlp") for run in script.RUNS) * 2_266 * 50
    assert result["projected"]["wall"]["training"] == pytest.approx(wall_train)

    attack_scale = (1_161 / 8) * 6 * (100 / 2)
    square_scale = (1_161 / 8) * 6 * (5_000 / 10)
    wall_attacks = 5 * sum(seconds[0] * (square_scale if name == "square" else attack_scale)
                           for per_arch in result["measured"]["attacks"].values() for name, seconds in per_arch.items())
    assert set(result["measured"]["attacks"]["kachuee_cnn"]) == set(script.ATTACKS)
    assert result["projected"]["wall"]["attacks"] == pytest.approx(wall_attacks)
    # CPU time of a single-threaded process cannot exceed its wall time by more than timer granularity
    assert result["projected"]["CPU"]["training"] <= 1.2 * result["projected"]["wall"]["training"]
    assert "Table 4 projected (wall time): training" in out and "Table 4 projected (CPU time)" in out


def test_the_machine_time_spreads_the_runs_over_its_cores_longest_first(script, tmp_path, capsys):
    assert script.makespan([5, 4, 3, 3, 3], 2) == 10   # LPT by hand: 5 | 4, 3 -> 5+3 | 7+3 -> 8 | 10
    assert script.makespan([5, 4, 3, 3, 3], 1) == 18 and script.makespan([2.0], 4) == 2.0
    result = script.main(["--device", "cpu", "--steps", "1", "--other-steps", "1", "--beats", "4", "--attack-steps",
                          "1", "--max-queries", "4", "--data", str(tmp_path), "--cores", "2",
                          "--jacobian-projections", "1"])
    projected = result["projected"]["wall"]
    total = projected["training"] + projected["attacks"]
    assert total / 2 <= projected["machine"] <= total   # two cores: at best half, at worst one after the other
    assert "on 2 free core(s)" in capsys.readouterr().out
    assert script.objectives_of(type("A", (), {"jacobian_projections": 1})())["mlp"]["jacob"].projections == 1
    assert script.OBJECTIVES["mlp"]["jacob"].projections is None   # the module's table is left as it was


def test_table4_time_refuses_an_unknown_device(script):
    with pytest.raises(Exception, match="(?i)device|cuda|tpu"):
        script.main(["--device", "tpu", "--steps", "1", "--other-steps", "1", "--beats", "4"])
