"""One self-contained HTML page of results: CSS inline, figures inlined as base64 PNG data URIs, no
network and no script framework (a few lines sort a table by the header clicked).

Per recipe: the protocol audit; per test set the systems x protocols table of mean ± std over folds
with each published number set under only the rows it may be compared with (mer.scoring.results_md's
comparability), the pooled scores, the side-by-side figures; per system its per-fold bars and every
figure stage 6 drew for it. Over several recipes, an overview table of every row first. Every string
from the results is escaped.
"""
from __future__ import annotations

import base64
import datetime as _dt
import re
from html import escape

from mer.metrics import METRICS, default_columns
from mer.report.figures import FigureFile
from mer.report.recipe import RecipeResults, System
from mer.scoring.results_md import (columns, comparability, comparable_rows, config_label, folds_text, mean_std,
                                    percent)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #446; margin-top: 2em; } h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #eef; } table.sortable th { cursor: pointer; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
tr.published td { background: #fff8dc; font-style: italic; }
.note { color: #555; font-size: .9em; }
.bar { position: relative; width: 9em; height: 1.2em; background: #eee; }
.bar span { position: absolute; left: 0; top: 0; bottom: 0; background: #7a9cc6; }
.bar em { position: relative; font-style: normal; padding-left: .3em; }
figure { display: inline-block; width: 460px; margin: .5em; vertical-align: top; }
figure.wide { width: 940px; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .8em; color: #444; }
section.system { border-left: 3px solid #ccd; padding-left: 1em; margin: 1.5em 0; }
"""

SCRIPT = """
function sortBy(th) {
  var body = th.closest("table").tBodies[0], col = th.cellIndex;
  var asc = th.getAttribute("aria-sort") !== "ascending", groups = [];
  Array.prototype.forEach.call(body.rows, function (r) {  // a published row moves with the row above it
    if (r.classList.contains("published") && groups.length) { groups[groups.length - 1].push(r); }
    else { groups.push([r]); }
  });
  function key(r) { var t = r.cells[col] ? r.cells[col].textContent : "", n = parseFloat(t); return isNaN(n) ? t : n; }
  groups.sort(function (a, b) {
    var x = key(a[0]), y = key(b[0]);
    var o = typeof x !== typeof y ? (typeof x === "number" ? -1 : 1) : (x < y ? -1 : x > y ? 1 : 0);
    return asc ? o : -o;
  });
  groups.forEach(function (g) { g.forEach(function (r) { body.appendChild(r); }); });
  Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
  th.setAttribute("aria-sort", asc ? "ascending" : "descending");
}
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () { sortBy(th); });
});
// each figure's decoded width, for a headless check that it rendered
window.addEventListener("load", function () {
  document.querySelectorAll("img").forEach(function (img) { img.dataset.naturalWidth = img.naturalWidth; });
});
"""


def _table(header: list[str], rows: list[tuple[str, list[str]]], sortable: bool = True) -> list[str]:
    """rows: (css class, cells already escaped)."""
    out = [f'<table{" class=sortable" if sortable else ""}><thead><tr>'
           + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead><tbody>"]
    out += [f'<tr{f" class={cls}" if cls else ""}>' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
            for cls, cells in rows]
    return out + ["</tbody></table>"]


def _text(value) -> str:
    return "—" if value is None or value == "" else escape(str(value))


def _source(p: dict) -> str:
    """Where a published number is printed: paper, table, row."""
    return " ".join(str(p[k]) for k in ("paper", "table", "row") if p.get(k))


def _with_code(text: str) -> str:
    """Escaped text whose `quoted` spans (as the Markdown notes write names) are set as code."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", escape(text))


def _published_row(p: dict, metrics: list[str]) -> tuple[str, list[str]]:
    return "published", ([f"published: {escape(_source(p))}", _text(p["protocol"]), "", _text(p.get("modalities")),
                          _text(p.get("classes")) + " classes"] + [_text(p.get(k)) for k in metrics])


def results_table(aggs: list[dict], published: list[dict], metrics: list[str]) -> list[str]:
    """Mean ± std per system and protocol; under each row, the published numbers comparable with it."""
    rows = []
    for a in aggs:
        rows.append(("", [escape(config_label(a)), _text(a["protocol"]), escape(folds_text(a)),
                          _text(a.get("modalities")), _text(a.get("aggregation"))]
                     + [escape(mean_std(a, k)) for k in metrics]))
        rows += [_published_row(p, metrics) for p in published if any(r is a for r in comparable_rows(p, aggs))]
    return _table(["config", "protocol", "folds", "modalities", "aggregation"] + [METRICS[k].label for k in metrics],
                  rows)


def _figure(fig: FigureFile, wide: bool = False) -> str:
    data = fig.path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        return f'<p class=note>{escape(fig.path.name)}: not a PNG file, not shown</p>'
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (f'<figure{" class=wide" if wide else ""}><img src="{src}" alt="{escape(fig.caption)}">'
            f"<figcaption>{escape(fig.caption)}</figcaption></figure>")


def fold_bars(agg: dict, metrics: list[str]) -> list[str]:
    """Each fold's scores as bars of 0-100 %."""
    def bar(value) -> str:
        if value is None:
            return "—"
        return f'<div class=bar><span style="width:{max(0.0, min(100.0, 100 * value)):.1f}%"></span>' \
               f"<em>{percent(value)}</em></div>"
    rows = [("", [escape(fold), _text(s.get("num_utts"))] + [bar(s.get(k)) for k in metrics])
            for fold, s in agg.get("folds", {}).items()]
    return _table(["fold", "utts"] + [METRICS[k].label + " %" for k in metrics], rows, sortable=False)


def _system_section(s: System) -> list[str]:
    out = [f"<section class=system><h4>{escape(s.config)} <small>({escape(s.protocol)})</small></h4>"]
    metrics = list(default_columns())
    for test_set, agg in sorted(s.aggs.items()):
        out += [f"<p>Test set <b>{escape(test_set)}</b>: scores per fold, in %</p>"] + fold_bars(agg, metrics)
        out += [_figure(f) for f in s.figures.get(test_set, [])]
    out += [_figure(f) for f in s.other_figures]
    return out + ["</section>"]


def _set_section(r: RecipeResults, test_set: str) -> list[str]:
    aggs, published = r.by_set[test_set], r.published.get(test_set, [])
    metrics = columns(published)
    out = [f"<h3>Test set {escape(test_set)}</h3>",
           "<p class=note>Mean ± sample standard deviation (ddof 1) over folds, in %; one fold: its score. "
           "A published number (as printed, in %) stands under only the rows it may be compared with: the same "
           "test set, protocol, number of classes and modalities.</p>"]
    out += results_table(aggs, published, metrics)
    if any(a.get("transductive") for a in aggs):
        out.append("<p class=note>(transductive): per-speaker CMVN normalises each test speaker with the statistics "
                   "of that speaker's own test utterances.</p>")
    unmatched = [p for p in published if not comparable_rows(p, aggs)]
    if unmatched:
        out.append(f"<details><summary>{len(unmatched)} published number(s) compared with no row here, and why"
                   "</summary><ul>")
        out += [f"<li>{escape(_source(p))}: {escape(comparability(p, aggs))}</li>" for p in unmatched]
        out.append("</ul></details>")
    out.append("<p>Pooled over folds (all folds' predictions scored as one set), in %:</p>")
    out += _table(["config", "protocol", "utts"] + [METRICS[k].label for k in metrics],
                  [("", [escape(config_label(a)), _text(a["protocol"]), _text(a["pooled"].get("num_utts"))]
                    + [percent(a["pooled"].get(k)) for k in metrics]) for a in aggs])
    for (protocol, fig_set), figs in sorted(r.set_figures.items()):
        if fig_set == test_set:
            out += [_figure(f, wide=True) for f in figs]
    return out


def recipe_section(r: RecipeResults) -> list[str]:
    out = [f'<h2 id="{escape(r.name)}">{escape(r.name)}</h2>']
    if r.dropped:
        out.append("<p><b>Utterances left out of training</b> (labels outside the label set):</p><ul>")
        out += [f"<li>{_with_code(n)}</li>" for n in r.dropped] + ["</ul>"]
    if r.audit:
        out.append("<p><b>Protocol audit</b> (stage 1, data/&lt;protocol&gt;/fold*/audit.json): speakers, sessions "
                   "and dialogues in two parts of a fold, test transcripts also in train, whether valid is test:</p>"
                   "<ul>")
        out += [f"<li>{_with_code(n)}</li>" for n in r.audit] + ["</ul>"]
    if not r.by_set:
        out.append("<p>No scores_&lt;set&gt;.json under exp/&lt;protocol&gt;/&lt;config&gt;/ yet (stage 5 writes "
                   "them).</p>")
    for test_set in sorted(r.by_set):
        out += _set_section(r, test_set)
    if r.systems:
        out.append("<h3>Systems: per-fold scores and figures</h3>")
        for s in r.systems:
            out += _system_section(s)
    return out


def overview_table(recipes: list[RecipeResults]) -> list[str]:
    metrics = list(default_columns())
    rows = [("", [escape(r.name), escape(test_set), escape(config_label(a)), _text(a["protocol"]),
                  escape(folds_text(a)), _text(a.get("modalities"))] + [escape(mean_std(a, k)) for k in metrics])
            for r in recipes for test_set, aggs in sorted(r.by_set.items()) for a in aggs]
    return _table(["recipe", "test set", "config", "protocol", "folds", "modalities"]
                  + [METRICS[k].label for k in metrics], rows)


def render_page(recipes: list[RecipeResults], command: str, skipped: list[str] = ()) -> str:
    """The whole page; `skipped`: lines naming what was left out and why."""
    title = f"Results: {recipes[0].name}" if len(recipes) == 1 else f"Results of {len(recipes)} recipes"
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{escape(title)}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{escape(title)}</h1>",
           f"<p class=note>Made {now} by <code>{escape(command)}</code> from exp/&lt;protocol&gt;/&lt;config&gt;/"
           "scores_&lt;set&gt;.json (the numbers of RESULTS.md) and the figures of stage 6. Click a column header "
           "to sort.</p>"]
    if skipped:
        out.append("<p>Left out:</p><ul>" + "".join(f"<li>{escape(s)}</li>" for s in skipped) + "</ul>")
    if len(recipes) > 1:
        out += ["<h2>Overview</h2>", "<p>Every recipe's systems x protocols, mean ± std over folds, in %; "
                "links below to each recipe:</p>",
                "<p>" + " · ".join(f'<a href="#{escape(r.name)}">{escape(r.name)}</a>' for r in recipes) + "</p>"]
        out += overview_table(recipes)
    for r in recipes:
        out += recipe_section(r)
    return "\n".join(out + [f"<script>{SCRIPT}</script>", "</body></html>", ""])
