"""The hierarchy combiner's reports over all folds (pooled), written after the last fold:
`hierarchy_sweep.json`, `hierarchy_report.md` and `plots/neutral_pr_<set>.png`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mer.combine.routing import ARGMAX, PR_GRID, SPEECH_ONLY, sweep_stats, threshold_key
from mer.utils.fileio import write_json_atomic, write_text_atomic

CHOSEN = "chosen on valid"


def _pooled(combiner, reports: dict, test_set: str) -> tuple[dict, list[dict], list[str]]:
    """The sweep over every fold's utterances of `test_set` scored as one set, plus the row of
    each fold's chosen threshold."""
    records, classes = [], None
    for fold, rep in reports.items():
        s = rep["sets"].get(test_set)
        if s is not None:
            classes = classes or s["classes"]
            records += [{**r, "utt": f"{fold}/{r['utt']}"} for r in s["records"]]
    if not records:
        return {}, [], []
    sweep = combiner.sweep(records, classes)
    to_text = [r["gate"] == combiner.neutral for r in records]
    sweep[CHOSEN] = sweep_stats([r["ref"] for r in records], [r["final"] for r in records],
                                np.array(to_text), classes, combiner.neutral)
    return sweep, records, classes


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.2f}"


def _row_keys(combiner, sweep: dict) -> list[str]:

    keys = [SPEECH_ONLY]
    if combiner.text:
        keys += [ARGMAX] + [threshold_key(t) for t in combiner.candidates if t is not None] + [CHOSEN]
    return list(dict.fromkeys(k for k in keys if k in sweep))


SWEEP_METRICS = ("ua", "wa", "macro_f1")  # the sweep table's metric columns (+ the selecting metric)


def _sweep_table(combiner, sweep: dict) -> list[str]:
    from mer.metrics import METRICS

    metrics = list(dict.fromkeys(SWEEP_METRICS + (combiner.select_metric,)))
    header = ["t"] + [METRICS[m].label for m in metrics] + [
        "neutral precision", "neutral recall", "to text", "emotional called neutral", "corrected by text",
        "neutral changed by text"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in _row_keys(combiner, sweep):
        s = sweep[key]
        corr = f"{s['corrected_by_text']} ({_pct(s['corrected_share'])}%)" if combiner.text else "—"
        lines.append(f"| {key} | " + " | ".join(_pct(s[m]) for m in metrics) + " | "
                     f"{_pct(s['neutral_precision'])} | {_pct(s['neutral_recall'])} | {s['routed_to_text']} | "
                     f"{s['emotional_called_neutral']} | {corr} | "
                     f"{s['neutral_wrongly_changed'] if combiner.text else '—'} |")
    return lines


def _examples(combiner, records: list[dict], n: int) -> list[str]:
    corrected = [r for r in records if r["gate"] == combiner.neutral and r["ref"] != combiner.neutral
                 and r["final"] == r["ref"]]
    wrong = [r for r in records if r["gate"] == combiner.neutral and r["final"] != r["ref"]
             and r["final"] != combiner.neutral]
    lines = []
    for title, rows in (("Corrected by text (speech said neutral, the final label is right)", corrected),
                        ("Wrongly changed by text (speech said neutral, text chose a wrong emotion)", wrong)):
        lines += ["", f"**{title}**: {len(rows)} utterance(s)" + (f", the first {n} shown" if len(rows) > n else ""),
                  "", "| utterance | transcript | speech (Model 1) | text (Model 3) | P(neutral), text | final | "
                  "reference |", "|" + "---|" * 7]
        for r in rows[:n]:
            transcript = (r.get("transcript") or "—").replace("|", "\\|")
            lines.append(f"| {r['utt']} | {transcript} | {r['gate']} | {r['text_pred']} | "
                         f"{r['p_text_neutral']:.3f} | {r['final']} | {r['ref']} |")
    return lines


def _pr_figure(combiner, sweep: dict, title: str):
    from matplotlib.figure import Figure


    fig = Figure(figsize=(5, 4.2))
    ax = fig.add_subplot()
    grid = [(t, sweep[threshold_key(t)]) for t in PR_GRID if threshold_key(t) in sweep]
    ax.plot([s["neutral_recall"] for _, s in grid], [s["neutral_precision"] for _, s in grid], "-o", ms=3,
            label="hierarchy + text, t from 0 to 1")
    for t in combiner.candidates:
        if t is not None and threshold_key(t) in sweep:
            s = sweep[threshold_key(t)]
            ax.annotate(f"t={t:.2f}", (s["neutral_recall"], s["neutral_precision"]), fontsize=7,
                        textcoords="offset points", xytext=(4, 4))
    s = sweep[SPEECH_ONLY]
    ax.plot([s["neutral_recall"]], [s["neutral_precision"]], "s", color="tab:red", label="speech only")
    ax.set_xlabel("neutral recall")
    ax.set_ylabel("neutral precision")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(title, fontsize=9)
    return fig


def write_reports(combiner, out_dir: Path, reports: dict) -> None:
    from mer.plots.common import save_figure

    name = out_dir.name
    folds = list(reports)
    sets = list(dict.fromkeys(s for rep in reports.values() for s in rep["sets"]))
    chosen = {f: rep["threshold_key"] for f, rep in reports.items()}
    systems = next(iter(reports.values()))["systems"]
    md = [f"# Hierarchy `{name}`", "",
          "Generated by the `hierarchy` combiner (mer.combine.hierarchy) from the decode dirs of: gate (Model 1) "
          f"`{systems['gate']}`, emotion (Model 2) `{systems['emotion']}`, text (Model 3) "
          f"`{systems['text'] or 'none: speech only'}`. Pooled over {len(folds)} fold(s); in %.", ""]
    if combiner.text:
        md += ["Threshold used per fold (chosen on "
               f"`{combiner.select_on}` by {combiner.select_metric} among "
               f"{', '.join(reports[folds[0]]['candidates'])}): "
               + ", ".join(f"{f} {t}" for f, t in chosen.items()), ""]
    out = {"name": name, "systems": systems, "thresholds_per_fold": chosen,
           "selection_per_fold": {f: rep["selection"] for f, rep in reports.items()}, "sets": {}}
    for test_set in sets:
        sweep, records, _ = _pooled(combiner, reports, test_set)
        if not sweep:
            continue
        out["sets"][test_set] = sweep
        md += [f"## `{test_set}`: every threshold", "",
               "`speech-only`: the gate's neutral stays neutral; `argmax`: the text model's decision; a number: "
               "Algorithm 1 with that t; `chosen on valid`: each fold's chosen t. 'emotional called neutral': "
               "emotional utterances the gate sent to text; 'corrected by text': those whose final label is "
               "right (share of them in brackets); 'neutral changed by text': neutral utterances the gate "
               "got right and text turned into an emotion.", ""]
        md += _sweep_table(combiner, sweep)
        if combiner.text:
            md += ["", f"### `{test_set}`: examples (the threshold of each fold)"]
            md += _examples(combiner, records, combiner.examples)
        md.append("")
        fig = _pr_figure(combiner, sweep, f"{name}: neutral class, {test_set}, {len(folds)} fold(s) pooled")
        save_figure(fig, out_dir / "plots" / f"neutral_pr_{test_set}")
    write_json_atomic(out_dir / "hierarchy_sweep.json", out)
    write_text_atomic(out_dir / "hierarchy_report.md", "\n".join(md) + "\n")
