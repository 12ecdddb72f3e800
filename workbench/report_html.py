"""One executed notebook as one self-contained HTML page a stakeholder can forward: a title block, the
plain-language verdict and its technical line, a table of contents, the notebook's outputs (code hidden,
images embedded, no script from anywhere) and a provenance footer.

nbconvert's `basic` template gives the cells without a page around them; the page, its CSS and the
title/verdict/footer are ours, so nothing is loaded from the network (no require.js, no MathJax).
"""

from __future__ import annotations

import copy
import html
import re
from typing import Any

from workbench.analysis.verdict import Verdict
from workbench.provenance import Provenance

VERDICT_MIME = "application/vnd.workbench.verdict+json"
# parameters that name the data a report is about, in the order the title block lists them
SCOPE_PARAMS = ("run", "baseline", "before", "after", "control", "treatment", "variant_tag", "from_snap",
                "to_snap", "label", "redis_from", "redis_to", "redis_server", "prom_names", "endpoint")
COLOURS = {True: "#1a7f37", False: "#cf222e", None: "#57606a"}
MARKS = {True: "✔", False: "✘", None: "•"}

CSS = """
:root { --fg:#1f2328; --muted:#57606a; --line:#d0d7de; --bg2:#f6f8fa; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0 auto;
  max-width: 1280px; padding: 1.5em 2em 3em; line-height: 1.45; }
header.title h1 { margin: 0 0 .2em; font-size: 1.9em; }
header.title .meta { color: var(--muted); margin: 0; font-size: .95em; }
.verdict { border-left: 8px solid; background: var(--bg2); padding: .8em 1.1em; margin: 1.2em 0; border-radius: 4px; }
.verdict .headline { font-size: 1.35em; font-weight: 600; margin: 0; }
.verdict .technical { color: var(--muted); margin: .5em 0 0; font-size: .92em; }
.verdict .details { margin: .5em 0 0; padding-left: 1.2em; }
nav.toc { border: 1px solid var(--line); border-radius: 6px; padding: .6em 1.2em; margin: 1em 0 2em; }
nav.toc h2 { font-size: 1em; margin: .2em 0; } nav.toc ol { margin: .2em 0; padding-left: 1.4em; columns: 2; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: .2em; margin-top: 2em; }
a.anchor-link { display: none; }
img { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .84em; }
th, td { padding: .3em .45em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg2); text-align: left; font-weight: 600; }
table.dataframe td, table.dataframe th { text-align: right; }
pre { background: var(--bg2); padding: .6em .8em; overflow-x: auto; white-space: pre-wrap; font-size: .85em; }
code { font-size: .9em; }
blockquote { margin: .8em 0; padding: .4em 1em; background: #fff8c5; border-radius: 6px; }
.output_area { margin: .4em 0; overflow-x: auto; }
footer.provenance { margin-top: 3em; border-top: 2px solid var(--line); color: var(--muted); font-size: .85em; }
footer.provenance table { font-size: 1em; } footer.provenance code { overflow-wrap: anywhere; }
.nowrap { white-space: nowrap; } td.num { text-align: right; }
@media print { nav.toc { display: none; } body { max-width: none; padding: 0; } }
"""


def title_of(nb: dict, fallback: str) -> str:
    """The notebook's first '# ' heading."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def verdict_payload(nb: dict) -> dict[str, Any]:
    """The payload of the notebook's first `show_verdict` ({} when it shows none)."""
    import json

    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data") or {}
            if VERDICT_MIME in data:
                v = data[VERDICT_MIME]
                return json.loads(v) if isinstance(v, str) else dict(v)
    return {}


def verdict_of(nb: dict) -> Verdict | None:
    """The notebook's verdict (None when it shows none)."""
    payload = verdict_payload(nb)
    return Verdict.from_dict(payload) if payload else None


def _body_notebook(nb: dict) -> dict:
    """The notebook as the page's body shows it: no title line (the title block has it), no verdict
    banner (it is on top), no parameter cells, no stderr (warnings quote source lines)."""
    nb = copy.deepcopy(nb)
    cells, titled = [], False
    for cell in nb.get("cells", []):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"parameters", "injected-parameters"}:
            continue
        if cell.get("cell_type") == "markdown" and not titled:
            lines = "".join(cell.get("source", "")).splitlines()
            if any(line.startswith("# ") for line in lines):
                titled = True
                cell["source"] = "\n".join(line for line in lines if not line.startswith("# ")).strip()
                if not cell["source"]:
                    continue
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                               and VERDICT_MIME not in (o.get("data") or {})]
        cells.append(cell)
    nb["cells"] = cells
    return nb


def notebook_body(nb: dict) -> str:
    """The cells' HTML (code hidden, prompts hidden, images inline) without any page or script."""
    import json

    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.reads(json.dumps(_body_notebook(nb)), as_version=4)
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(node)
    return body


_H2 = re.compile(r'<h2 id="([^"]+)">(.*?)(?:<a class="anchor-link"[^>]*>.*?</a>)?</h2>', re.S)


def toc(body: str) -> list[tuple[str, str]]:
    """(anchor, text) of each section (## heading) of BODY."""
    return [(a, re.sub(r"<[^>]+>", "", t).strip()) for a, t in _H2.findall(body)]


def scope_text(params: dict[str, Any]) -> str:
    """Which data: the parameters naming runs, snapshots, labels (blank ones are the notebook's defaults)."""
    parts = [f"{k} <b>{html.escape(str(params[k]))}</b>" for k in SCOPE_PARAMS
             if params.get(k) not in (None, "")]
    return ", ".join(parts) if parts else "the notebook's defaults (the latest data in the store)"


def when(iso: str) -> str:
    """'2026-12-02T01:09:11+00:00' (how reports record it) as '2026-12-02 01:09:11'."""
    return iso.replace("T", " ").replace("+00:00", "")


def _fmt_time(t: Any) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(t, "strftime") else str(t)


def footer(prov: Provenance, params: dict[str, Any]) -> str:
    """The provenance footer: parameters (already redacted), versions, and the ingests with fingerprints."""
    e = html.escape
    prm = "".join(f"<tr><td><code>{e(str(k))}</code></td><td><code>{e(str(v))}</code></td></tr>"
                  for k, v in params.items())
    ver = "; ".join(f"{e(k)} {e(v)}" for k, v in prov.versions.items())
    if prov.note:
        src = f"<p>Data sources: {e(prov.note)}.</p>"
    else:
        rows = "".join(
            f"<tr><td class=\"nowrap\">{e(_fmt_time(i['at']))}</td><td>{e(i['kind'])}</td><td><code>{e(i['source'])}</code></td>"
            f"<td>{e(i['run'] or i['label'] or '')}</td><td class=\"num\">{i['rows'] or 0:,}</td>"
            f"<td class=\"nowrap\"><code>{e((i['fingerprint'] or '–')[:19])}</code></td></tr>"
            for i in prov.ingests)
        more = f"<p>… and {prov.more:,} older ingests.</p>" if prov.more else ""
        src = (f"<details><summary>Data sources: {len(prov.ingests) + prov.more:,} ingests into "
               f"<code>{e(str(prov.store))}</code> (each file's sha256 or, for k6 points files, BLAKE3: the first 12 hex digits; – where the store records none)</summary><table><thead><tr>"
               "<th>ingested</th><th>kind</th><th>source</th><th>run / label</th><th>rows</th><th>fingerprint</th>"
               f"</tr></thead><tbody>{rows}</tbody></table>{more}</details>")
    return (f'<footer class="provenance" id="provenance"><h2>Provenance</h2>{src}'
            f"<details><summary>Parameters (secrets redacted)</summary><table>{prm}</table></details>"
            f"<p>Versions: {ver}.</p></footer>")


def page(nb: dict, title: str, params: dict[str, Any], executed_at: str, prov: Provenance,
         verdict: Verdict | None = None, notebook: str = "") -> str:
    """The whole report page (NB is the executed, scrubbed notebook; PARAMS already redacted; VERDICT
    defaults to the notebook's own)."""
    e = html.escape
    verdict = verdict or verdict_of(nb) or Verdict("info", "This notebook states no verdict.")
    body = notebook_body(nb)
    ok, headline, technical = verdict.ok, verdict.headline, verdict.technical
    tech = f'<p class="technical">{e(technical)}</p>' if technical and technical != headline else ""
    if verdict.details:
        tech += '<ul class="details">' + "".join(f"<li>{e(d)}</li>" for d in verdict.details) + "</ul>"
    sections = toc(body) + [("provenance", "Provenance")]
    nav = "".join(f'<li><a href="#{e(a)}">{e(t)}</a></li>' for a, t in sections)
    scope = verdict_payload(nb).get("scope")
    scope_html = e(scope) if scope else scope_text(params)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><style>{CSS}</style></head><body>
<header class="title"><h1>{e(title)}</h1>
<p class="meta">{e(notebook)} · executed {e(when(executed_at))} UTC · data: {scope_html}</p></header>
<section class="verdict" style="border-color:{COLOURS.get(ok, COLOURS[None])}">
<p class="headline">{MARKS.get(ok, MARKS[None])} {e(headline)}</p>{tech}</section>
<nav class="toc"><h2>Contents</h2><ol>{nav}</ol></nav>
<main>
{body}
</main>
{footer(prov, params)}
</body></html>
"""
