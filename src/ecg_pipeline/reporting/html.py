"""One self-contained HTML page: figures embedded as ``data:`` URIs, tables inline, no external files,
no scripts, so it opens from disk in any browser without a server."""

from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd

MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1rem auto; max-width: 1320px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.45rem; margin: .3rem 0; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; }
h2.first { margin-top: .6rem; font-size: 1.2rem; }
nav { font-size: .8rem; color: #555; } nav a { margin-right: .7rem; }
table { border-collapse: collapse; margin: .4rem 0 1.2rem; font-size: .82rem; width: 100%; }
th, td { border: 1px solid #ccc; padding: .2rem .4rem; text-align: right; overflow-wrap: break-word; }
th { background: #f0f0f0; text-align: center; }
td.text, td.command, td.path { overflow-wrap: anywhere; }
td.path { text-align: left; font-size: .78rem; }
th:first-child, td:first-child { text-align: left; }
tr.published td { color: #555; font-style: italic; background: #f6f6f6; }
figure { margin: .4rem 0 1.2rem; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .8rem; color: #555; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: .6rem; }
.grid figure { margin: 0; }
.grid.two { grid-template-columns: repeat(auto-fit, minmax(600px, 1fr)); }
td.absent { color: #c0392b; text-align: left; }
td.command { text-align: left; font-size: .78rem; }
td.text { text-align: left; font-size: .8rem; }
.note { color: #555; font-size: .85rem; margin: .3rem 0; }
details > summary { cursor: pointer; font-weight: 600; margin: .4rem 0; }
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
    heading = f"<h3>{html.escape(title)}</h3>\n" if title else ""
    return f"{heading}<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value, digits: int) -> str:
    """A number to ``digits`` decimals (an integer as is), text escaped, an absent value empty."""
    if isinstance(value, str):
        return html.escape(value)
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}"


def figures_html(figures: dict[str, bytes], caption=lambda name: name, grid: bool | str = False) -> str:
    """Each figure with its caption; ``grid``: side by side where the page is wide enough (``"two"``: at most
    two a row, for wide multi-panel figures)."""
    items = "\n".join(
        f'<figure><img alt="{html.escape(caption(name))}" src="{data_uri(name, content)}">'
        f"<figcaption>{html.escape(caption(name))}</figcaption></figure>"
        for name, content in figures.items()
    )
    if not grid:
        return items
    return f'<div class="grid{" two" if grid == "two" else ""}">{items}</div>'


def inputs_html(inputs: list[dict]) -> str:
    """The stored artifacts read: dataset, version, path relative to the project, and what each evaluation
    recorded of the code, model and data it was made with (``provenance``, "not recorded" before it was)."""
    rows = "".join(
        f"<tr><td>{html.escape(i['dataset'])}</td><td class=\"path\">{html.escape(i['version'] or 'unversioned')}</td>"
        f"<td class=\"path\">{html.escape(i['filepath'])}</td><td class=\"text\">{html.escape(i.get('made_with') or '')}</td></tr>"
        for i in inputs
    )
    return ("<table><thead><tr><th>dataset</th><th>version</th><th>file (relative to the project)</th>"
            f"<th>made with</th></tr></thead><tbody>{rows}</tbody></table>")


def key_values_html(values: dict) -> str:
    """A two-column table of ``values`` (nested dicts flattened to ``a.b``; absent values "not recorded")."""
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td class=\"text\">{html.escape(v)}</td></tr>"
                   for k, v in _flat(values))
    return f"<table><tbody>{rows}</tbody></table>"


def _flat(values: dict, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += _flat(value, f"{name}.")
        else:
            out.append((name, "not recorded" if value is None or value == {} else str(value)))
    return out


def collapsed(summary: str, content: str, *, open_: bool = False) -> str:
    """``content`` under a ``<details>`` element (closed unless ``open_``), no script needed."""
    return f"<details{' open' if open_ else ''}><summary>{html.escape(summary)}</summary>\n{content}\n</details>"


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
    return (note + '<table><thead><tr><th>model</th><th>attacks stored</th><th>not evaluated yet</th>'
            f'<th>command</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def page(title: str, sections: list[tuple[str, str]], subtitle: str = "") -> str:
    """The whole document; ``sections``: (heading, inner HTML), empty ones left out; a one-line contents bar
    (the first screen is the headline's)."""
    sections = [(h, content) for h, content in sections if content]
    toc = "".join(f'<a href="#s{i}">{html.escape(h.split(":")[0])}</a>' for i, (h, _) in enumerate(sections))
    first = ' class="first"'
    body = "\n".join(f'<h2 id="s{i}"{first if i == 0 else ""}>{html.escape(h)}</h2>\n{content}'
                     for i, (h, content) in enumerate(sections))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p class="note">{html.escape(subtitle)}</p><nav>{toc}</nav>\n{body}\n</body></html>\n')
