"""The paired-comparison benchmark runs at a tiny size and prints the ratio to its peer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "paired_comparison.py"


def test_paired_comparison_benchmark_prints_the_ratio(capsys):
    spec = importlib.util.spec_from_file_location("paired_comparison", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    result = script.main(["--resamples", "10", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "1161 beats, 7 eps, 10 resamples" in out and "the peer)" in out
    assert result["ratio"] == pytest.approx(result["paired_s"] / result["peer_s"])
