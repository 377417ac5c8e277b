"""One self-contained HTML page: figures embedded as ``data:`` URIs, tables inline, no external files,
no scripts, so it opens from disk in any browser without a server."""

from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd

MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.7rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .2rem .45rem; text-align: right; }
th { background: #f0f0f0; text-align: center; }
th:first-child, td:first-child { text-align: left; white-space: nowrap; }
tr.published td { color: #555; font-style: italic; background: #f6f6f6; }
figure { margin: 1rem 0 2rem; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; }
.wide { overflow-x: auto; }
td.absent { color: #c0392b; text-align: left; }
td.command { text-align: left; overflow-wrap: anywhere; font-size: .8rem; }
td.text { text-align: left; font-size: .8rem; }
.note { color: #555; font-size: .9rem; }
"""


def data_uri(name: str, content: bytes) -> str:
    suffix = name[name.rfind("."):].lower()
    return f"data:{MIME.get(suffix, 'application/octet-stream')};base64,{base64.b64encode(content).decode('ascii')}"


TEXT_CELL = '<td class="text">'


def table_html(title: str, table: pd.DataFrame, digits: int = 4) -> str:
    """A wide table; rows whose label says "published" are styled apart."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["model", *table.columns])
    body = []
    for row, values in table.iterrows():
        cls = ' class="published"' if "published" in str(row) else ""
        cells = "".join((TEXT_CELL if isinstance(v, str) else "<td>") + f"{_cell(v, digits)}</td>" for v in values)
        body.append(f"<tr{cls}><td>{html.escape(str(row))}</td>{cells}</tr>")
    return (f'<h3>{html.escape(title)}</h3>\n<div class="wide"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _cell(value, digits: int) -> str:
    """A number to ``digits`` decimals (an integer as is), text escaped, an absent value empty."""
    if isinstance(value, str):
        return html.escape(value)
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}"


def figures_html(figures: dict[str, bytes], caption=lambda name: name) -> str:
    return "\n".join(
        f'<figure><img alt="{html.escape(caption(name))}" src="{data_uri(name, content)}">'
        f"<figcaption>{html.escape(caption(name))}</figcaption></figure>"
        for name, content in figures.items()
    )


def inputs_html(inputs: list[dict]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(i['dataset'])}</td><td>{html.escape(i['version'] or 'unversioned')}</td>"
        f"<td>{html.escape(i['filepath'])}</td></tr>" for i in inputs
    )
    return f"<table><thead><tr><th>dataset</th><th>version</th><th>file</th></tr></thead><tbody>{rows}</tbody></table>"


def coverage_html(coverage: list[dict]) -> str:
    """One row per model: how many of its attacks are stored, which are not, and the one command that adds them."""
    if not coverage:
        return '<p class="note">No model runs are declared.</p>'
    rows = []
    for c in coverage:
        n = len(c["attacks"])
        if c["missing"]:
            missing = ", ".join(c["missing"]) if len(c["missing"]) < n else "all"
            rows.append(f'<tr><td>{html.escape(c["label"])} ({html.escape(c["run"])})</td><td>{n - len(c["missing"])} / {n}</td>'
                        f'<td class="absent">{html.escape(missing)}</td><td class="command"><code>{html.escape(c["command"])}</code></td></tr>')
        else:
            rows.append(f'<tr><td>{html.escape(c["label"])} ({html.escape(c["run"])})</td><td>{n} / {n}</td>'
                        "<td>&#10003;</td><td class=\"command\"></td></tr>")
    incomplete = sum(1 for c in coverage if c["missing"])
    note = (f'<p class="note">{incomplete} of {len(coverage)} models lack evaluations; the report leaves them out. '
            "One command per model adds them.</p>" if incomplete else '<p class="note">Every declared evaluation is stored.</p>')
    return (note + '<div class="wide"><table><thead><tr><th>model</th><th>attacks stored</th><th>not evaluated yet</th>'
            f'<th>command</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def page(title: str, sections: list[tuple[str, str]], subtitle: str = "") -> str:
    """The whole document; ``sections``: (heading, inner HTML)."""
    toc = "".join(f'<li><a href="#s{i}">{html.escape(h)}</a></li>' for i, (h, _) in enumerate(sections))
    body = "\n".join(f'<h2 id="s{i}">{html.escape(h)}</h2>\n{content}' for i, (h, content) in enumerate(sections))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p class="note">{html.escape(subtitle)}</p><ul>{toc}</ul>\n{body}\n</body></html>\n')
