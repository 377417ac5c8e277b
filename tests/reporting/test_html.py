"""The HTML page is self-contained: data URIs, no scripts, published rows marked."""

from __future__ import annotations

import base64

import pandas as pd

from ecg_pipeline.reporting import html


def test_page_embeds_figures_and_escapes_text():
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 20
    figures = html.figures_html({"mitdb_mlp__pgd.png": png}, caption=lambda n: n.replace("__", " · "))
    page = html.page("report <1>", [("Curves", figures)], subtitle="built now")
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
    assert "mitdb_mlp · pgd" in page and "report &lt;1&gt;" in page and "<script" not in page


def test_tables_mark_published_rows_and_the_coverage_table_has_one_row_per_model():
    table = pd.DataFrame({"0": [0.9, 0.92], "ACC_robust": [0.4, None]},
                         index=["CE (ce_mlp)", "CE: published (seed 001 Table 4 C)"])
    text = html.table_html("MLP · pgd_nsr", table)
    assert '<tr class="published"><td>CE: published (seed 001 Table 4 C)</td><td>0.9200</td><td></td></tr>' in text
    coverage = html.coverage_html([
        {"run": "ce_mlp", "label": "CE", "attacks": {"pgd": True, "sap": True}, "missing": [], "command": None},
        {"run": "nsr_mlp", "label": "0.4NSR", "attacks": {"pgd": False, "sap": True}, "missing": ["pgd"],
         "command": "kedro run --pipelines=attack --namespaces=nsr_mlp.pgd"},
    ])
    assert "1 of 2 models lack evaluations" in coverage
    assert coverage.count("<tr>") == 3  # header and one row per model, not one per missing artifact
    assert "<td>1 / 2</td><td class=\"absent\">pgd</td><td class=\"command\"><code>kedro run --pipelines=attack --namespaces=nsr_mlp.pgd" \
        in coverage
