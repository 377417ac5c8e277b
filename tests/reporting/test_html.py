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


def test_tables_mark_published_rows_and_missing_commands():
    table = pd.DataFrame({"0": [0.9, 0.92], "ACC_robust": [0.4, None]},
                         index=["CE (ce_mlp)", "CE: published (seed 001 Table 4 C)"])
    text = html.table_html("MLP · pgd_nsr", table)
    assert '<tr class="published"><td>CE: published (seed 001 Table 4 C)</td><td>0.9200</td><td></td></tr>' in text
    missing = html.missing_html([{"dataset": "nsr_mlp.pgd.metrics", "filepath": "data/x.json", "command": "kedro run"}],
                                ["kedro run --pipeline=attack --namespaces=nsr_mlp.pgd"])
    assert "1 requested artifact(s) have not been produced" in missing
    assert "kedro run --pipeline=attack --namespaces=nsr_mlp.pgd" in missing and "nsr_mlp.pgd.metrics" in missing
