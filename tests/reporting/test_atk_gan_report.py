"""The ECG-ATK-GAN report's tables and markdown (reporting/atk_gan.py), in memory."""

import numpy as np
import pandas as pd
import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.reporting import atk_gan as report
from ecg_pipeline.reporting.published import ATK_GAN_TABLE1, ATK_GAN_TABLE1_COLUMNS


def _protocol(run: str, sets: list[str], value: float) -> pd.DataFrame:
    return pd.DataFrame([{"run": run, "set": s, "beats": 10, **{c: value for c in ATK_GAN_TABLE1_COLUMNS}}
                         for s in sets])


def test_table1_puts_published_rows_first_then_ours_in_percent():
    table = report.table1(_protocol("atk_gan", ["pgd", "clean"], 0.5), {"atk_gan": "ECG-ATK-GAN"})
    assert list(dict.fromkeys(table["test set"])) == ["No Attack", "PGD"]  # the paper's order, not the input's
    ours = table[table["source"] == "ours"]
    assert len(ours) == 2 and set(ours["model"]) == {"ECG-ATK-GAN"}
    assert (ours[list(ATK_GAN_TABLE1_COLUMNS)] == 50.0).all().all()
    published = table[(table["source"] != "ours") & (table["test set"] == "PGD")]
    assert len(published) == len(ATK_GAN_TABLE1["pgd"])
    assert published.iloc[0]["accuracy"] == 98.4  # seed 002 Table 1, Proposed Method under PGD


def test_table1_refuses_rows_without_per_class_columns():
    with pytest.raises(EcgDataError, match="4-class"):
        report.table1(pd.DataFrame([{"run": "x", "set": "clean", "beats": 1, "accuracy": 1.0}]), {})


def test_markdown_prints_each_section_at_its_own_precision():
    percent = pd.DataFrame([{"accuracy": 65.31249, "small": 0.0012345}])
    fraction = pd.DataFrame([{"mse": 0.061234, "missing": np.nan}])
    text = report.to_markdown([("A", percent, "note", 1), ("B", fraction, ""), ("C", pd.DataFrame(), "")])
    lines = text.splitlines()
    assert "| 65.3 | 0.001 |" in lines          # one decimal; tiny values keep one significant digit
    assert "| 0.0612 | - |" in lines           # the default four, NaN as a dash
    assert "(nothing stored)" in lines
    assert lines.index("## A") < lines.index("note") < lines.index("## B")
