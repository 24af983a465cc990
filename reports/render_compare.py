r"""Render ``compare.json`` (:mod:`gradspec.reports.compare`) as one self-contained HTML page.

Rendered from the JSON alone: this module imports nothing but :mod:`gradspec.reports.render`'s small helpers
(no SymPy, no oracle, no runner). Every value shown is wrapped in ``<span data-k="path/in/the/json">`` as in the
verification report, and every string that can come from an implementation goes through :func:`esc`.
"""
from __future__ import annotations

from .render import CSS, badge, esc, fmt, k

PAGE_TITLE = "gradspec: implementations compared"

CATEGORY_TITLES = {"convention_difference": "convention", "diagnosed_bug": "bug", "no_known_cause": "no known cause"}

COMPARE_CSS = """
table.compare td{white-space:normal;min-width:7em} table.compare td.kind{overflow-wrap:normal}
table.summary td code{white-space:normal;overflow-wrap:anywhere}
table.compare th.col{min-width:8em} table.compare td code,table.compare th code{white-space:normal;overflow-wrap:anywhere} .named{display:block;margin-top:2px;font-size:0.9em}
.cat{display:inline-block;padding:0 4px;border-radius:4px;font-size:0.8em;background:#eef;color:#335;margin-right:3px}
.cat-diagnosed_bug,.cat-no_known_cause{background:#fde;color:#611}
.s-not_run{background:#eee;color:#555} .s-import_error{background:#fbd4d4;color:#8a1010}
"""


def _entry_html(e: dict, path: str) -> str:
    """One failing check of a cell: its category, its causes by name (or the spec's convention, or its message)."""
    cat = f'<span class="cat cat-{esc(e["category"])}" data-category="{esc(e["category"])}">{esc(CATEGORY_TITLES[e["category"]])}</span>'
    names = ", ".join(f'<code class="cause" data-k="{esc(path)}/causes/{j}/name">{esc(c["name"])}</code>'
                      for j, c in enumerate(e["causes"]))
    where = f'<span class="note">{k(path + "/oracle", e["oracle"])}/{k(path + "/check", e["check"])}</span>'
    detail = [f"{badge(e['status'], path + '/status')} {where}: {k(path + '/message', e['message'])}"]
    for j, conv in enumerate(e["conventions"]):
        detail.append(f"the spec: {k(f'{path}/conventions/{j}', conv)}")
    for j, c in enumerate(e["causes"]):
        detail.append(f"<code>{esc(c['name'])}</code>: {k(f'{path}/causes/{j}/explanation', c['explanation'])}"
                      + (f" (confidence {k(f'{path}/causes/{j}/confidence', c['confidence'], '.2f')})"
                         if c["confidence"] is not None else ""))
    head = names or where
    return (f'<span class="named">{cat}{head}<details><summary>details</summary>'
            + "<br>".join(detail) + "</details></span>")


def _cell_html(cell: dict, path: str) -> str:
    parts = [badge(cell["status"], path + "/status")]
    if cell["worst_error"] is not None:
        parts.append(f' <span class="note">worst {k(path + "/worst_error", cell["worst_error"], ".3g")}×</span>')
    parts += [_entry_html(e, f"{path}/entries/{j}") for j, e in enumerate(cell["entries"])]
    if cell.get("reason"):  # the column's header says why, once
        return f'<span title="{esc(cell["reason"])}">{"".join(parts)}</span>'
    return "".join(parts)


def _column_header(c: dict, i: int) -> str:
    p = f"columns/{i}"
    out = [f'<code data-k="{p}/impl">{esc(c["impl"])}</code>']
    if c["version"]:
        out.append(f'<br><span class="note">{k(p + "/version", c["version"])}</span>')
    if c["status"] != "checked":
        out.append(f'<br>{badge(c["status"], p + "/status")}<br><span class="note column-error" data-k="{p}/error">'
                   f'{esc(c["error"])}</span>')
    return f'<th class="col" data-column="{i}">{"".join(out)}</th>'


def _named_section(r: dict) -> str:
    items = []
    for i, c in enumerate(r["columns"]):
        p = f"columns/{i}"
        if c["status"] != "checked":
            items.append(f'<li><code>{esc(c["impl"])}</code>: not checked ({k(p + "/error", c["error"])})</li>')
            continue
        named = "".join(
            f'<li><span class="cat cat-{esc(n["category"])}">{esc(CATEGORY_TITLES[n["category"]])}</span>'
            f'<code data-k="{p}/named/{j}/name">{esc(n["name"])}</code>'
            + "".join(f' in <code data-k="{p}/named/{j}/checks/{m}">{esc(where)}</code>' for m, where in enumerate(n["checks"])
                      if n["name"] == "no known cause")
            + "".join(f' (the spec: {k(f"{p}/named/{j}/conventions/{m}", conv)})' for m, conv in enumerate(n["conventions"])
                      if n["name"] == "no known cause")
            + " — "
            + ", ".join(f'<code data-k="{p}/named/{j}/ops/{m}">{esc(op)}</code>' for m, op in enumerate(n["ops"]))
            + "</li>" for j, n in enumerate(c["named"]))
        v = c["verdicts"]
        counts = ", ".join(f"{k(f'{p}/verdicts/{s}', v[s])} {esc(s.replace('_', ' '))}"
                           for s in ("pass", "fail", "error", "not_implemented", "not_applicable") if v[s])
        items.append(f'<li><code>{esc(c["impl"])}</code>: {counts}; {k(p + "/duration_s", c["duration_s"], ".1f")} s'
                     + (f"<ul>{named}</ul>" if named else " — no difference from the spec") + "</li>")
    return ('<section id="differences"><h2>Differences from the spec, by implementation</h2>'
            f'<ul>{"".join(items)}</ul></section>')


def render_compare_html(report: dict) -> str:
    """The whole page for a compare dict (see ``compare_schema.json``)."""
    s = report["summary"]
    cols = report["columns"]
    head = "<th>op</th><th>kind</th>" + "".join(_column_header(c, i) for i, c in enumerate(cols))
    body = []
    for r_i, row in enumerate(report["rows"]):
        p = f"rows/{r_i}"
        tds = [f'<td class="op"><code>{k(p + "/op", row["op"])}</code></td>', f'<td class="kind">{k(p + "/kind", row["kind"])}</td>']
        tds += [f'<td class="cell" data-column="{c_i}">{_cell_html(cell, f"{p}/cells/{c_i}")}</td>'
                for c_i, cell in enumerate(row["cells"])]
        body.append(f'<tr class="op-row" data-op="{esc(row["op"])}">{"".join(tds)}</tr>')
    examples = ("each oracle's default" if s["examples"] is None and s["profile"] == "dev" else
                f"profile {esc(s['profile'])}" if s["examples"] is None else k("summary/examples", s["examples"]))
    summary = (
        '<section id="summary"><h2>Summary</h2><table class="summary"><tbody>'
        f'<tr><th>gradspec</th><td>{k("summary/gradspec_version", s["gradspec_version"])}, Python '
        f'{k("summary/python", s["python"])}, {k("summary/platform", s["platform"])}</td></tr>'
        f'<tr><th>oracles</th><td>{", ".join(k(f"summary/oracles/{i}", o) for i, o in enumerate(s["oracles"]))}</td></tr>'
        f'<tr><th>examples per op and oracle</th><td>{examples}</td></tr>'
        f'<tr><th>seed</th><td>{k("summary/seed", s["seed"])}</td></tr>'
        f'<tr><th>per-call timeout</th><td>{k("summary/timeout_s", s["timeout_s"]) if s["timeout_s"] is not None else "the default"}</td></tr>'
        f'<tr><th>date (UTC)</th><td>{k("summary/date", s["date"])}</td></tr>'
        f'<tr><th>duration</th><td>{k("summary/duration_s", s["duration_s"], ".1f")} s</td></tr>'
        f'<tr><th>reproduce</th><td><code>{k("summary/command", s["command"])}</code></td></tr>'
        "</tbody></table></section>")
    matrix = ('<section id="matrix"><h2>Ops × implementations</h2>'
              '<p class="note">Each cell: the op\'s status for that implementation, then every check that failed or '
              "erred, by name: <i>convention</i> (the op differs from the spec's convention on a kink), <i>bug</i> (a "
              "diagnosed cause), <i>no known cause</i> (the check's message is in its details). worst = the largest "
              "error in units of the tolerance (≤ 1 passes).</p>"
              f'<table class="matrix compare"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></section>')
    page = (f"<header><h1>{esc(PAGE_TITLE)}</h1><p>{' · '.join('<code>' + esc(c['impl']) + '</code>' for c in cols)}"
            f" — {len(report['rows'])} ops, {esc(fmt(len(cols)))} implementations</p></header>"
            + summary + _named_section(report) + matrix
            + '<footer class="note"><p>Generated by gradspec compare. Every value on this page is in compare.json next to it.</p></footer>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(PAGE_TITLE)}</title><style>{CSS}{COMPARE_CSS}</style></head><body>{page}</body></html>\n")
