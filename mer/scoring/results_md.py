"""Generate a recipe's RESULTS.md from exp/<protocol>/<config>/scores_<set>.json.

One table per test set with one row per (configuration, protocol), the protocol named on every
row; mean ± sample std over folds, then the pooled scores, then published numbers (if any) read
from a YAML list (conf/published.yaml). The columns are the metric registry's default columns plus
every metric a published number of that set names. A published number is set beside a result row
only where the two can be compared: the same test set, protocol, number of classes and modalities
(and, where the entry names them, configs); otherwise the table says why not.
"""
from __future__ import annotations

import datetime as _dt
import fnmatch
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from mer.metrics import METRICS, default_columns
from mer.scoring.decode_dir import ScoringError
from mer.scoring.dropped_labels import dropped_notes
from mer.scoring.protocol_notes import audit_notes, fitted_on, transductive
from mer.scoring.selection_notes import selection_notes, selection_of
from mer.train.config import config_stem
from mer.utils.fileio import write_text_atomic

PUBLISHED_REQUIRED = ("paper", "protocol")
PUBLISHED_FIELDS = ("paper", "table", "row", "protocol", "test_set", "classes", "modalities", "configs", "note")
MODALITY_ALIASES = {"audio": "speech"}  # systems name their speech input either way
# The header lines that say when, where and with what the results were made (header()).
PROVENANCE_LINES = ("- date: ", "- git commit: ", "- python ", "- machine: ")


def collect(exp_dir: str | os.PathLike) -> dict[str, list[dict]]:
    """test set -> aggregated score dicts, sorted by (config, protocol), each with the dir it was read
    from (exp_config_dir)."""
    by_set: dict[str, list[dict]] = {}
    for path in sorted(Path(exp_dir).glob("*/*/scores_*.json")):
        try:
            agg = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ScoringError(f"{path}: not valid JSON: {e}") from e
        for key in ("mean", "std", "pooled"):
            if key not in agg:
                raise ScoringError(f"{path}: missing '{key}' (not written by mer.bin.aggregate_scores?)")
        agg.setdefault("protocol", path.parent.parent.name)
        agg.setdefault("config", path.parent.name)
        agg.setdefault("transductive", transductive(path.parent))
        agg["exp_config_dir"] = str(path.parent)  # where stage 6 drew its figures (mer.report)
        agg.setdefault("selection", selection_of(path.parent, agg))
        test_set = path.stem[len("scores_"):]
        agg.setdefault("fitted_on", fitted_on(path.parent, test_set))
        by_set.setdefault(test_set, []).append(agg)
    for rows in by_set.values():
        rows.sort(key=lambda a: (str(a["config"]), str(a["protocol"])))
    return by_set


def load_published(path: str | os.PathLike) -> list[dict]:
    """Entries like `- {paper: memocmt, table: "Table 1", row: "...", protocol: random, classes: 4,
    modalities: speech+text, ua: 81.33, wa: 81.85}`: metric names of the registry, values percentages
    as printed in the paper. Optional: `test_set` (default "test"), `classes` (how many), `modalities`
    (`+`-joined input names; audio = speech), `configs` (glob patterns of the config names, without
    their overrides, the row is the published counterpart of), `note`."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ScoringError(f"{path}: not valid YAML: {e}") from e
    if data is None:
        return []
    if not isinstance(data, list):
        raise ScoringError(f"{path}: expected a YAML list of published results")
    for i, entry in enumerate(data, 1):
        if not isinstance(entry, dict):
            raise ScoringError(f"{path}: entry {i} is not a mapping")
        absent = [k for k in PUBLISHED_REQUIRED if k not in entry]
        if absent:
            raise ScoringError(f"{path}: entry {i} lacks {', '.join(absent)}")
        unknown = [k for k in entry if k not in PUBLISHED_FIELDS and k not in METRICS]
        if unknown:
            raise ScoringError(f"{path}: entry {i}: unknown key(s) {', '.join(map(str, unknown))} (neither a field "
                               f"({', '.join(PUBLISHED_FIELDS)}) nor a metric (python -m mer.bin.list metric))")
        if not _metrics_of(entry):
            raise ScoringError(f"{path}: entry {i} names no metric (python -m mer.bin.list metric)")
        for k in _metrics_of(entry):
            v = entry[k]
            if v is not None and (not isinstance(v, (int, float)) or not 0 <= v <= 100):
                raise ScoringError(f"{path}: entry {i}: {k}={v!r} is not a percentage in [0, 100]")
        if "classes" in entry and not (isinstance(entry["classes"], int) and entry["classes"] > 1):
            raise ScoringError(f"{path}: entry {i}: classes={entry['classes']!r} is not a number of classes")
        if isinstance(entry.get("configs"), str):
            entry["configs"] = [entry["configs"]]
    return data


def _metrics_of(entry: dict) -> list[str]:
    return [k for k in entry if k in METRICS]


def _modalities(text) -> frozenset[str] | None:
    if not text:
        return None
    return frozenset(MODALITY_ALIASES.get(m, m) for m in str(text).split("+"))


def _num_classes(agg: dict) -> int | None:
    labels = (agg.get("pooled", {}).get("confusion") or {}).get("labels")
    return len(labels) if labels else None


def mismatch(published: dict, agg: dict) -> str | None:
    """Why a published entry cannot be compared with a result row (None: it can)."""
    if str(published["protocol"]) != str(agg.get("protocol")):
        return f"protocol {agg.get('protocol')}"
    n = _num_classes(agg)
    if published.get("classes") is not None and n is not None and published["classes"] != n:
        return f"{n} classes"
    want, have = _modalities(published.get("modalities")), _modalities(agg.get("modalities"))
    if want is not None and have is not None and want != have:
        return f"modalities {agg.get('modalities')}"
    if published.get("configs") and not any(fnmatch.fnmatchcase(config_stem(str(agg.get("config"))), pat)
                                            for pat in published["configs"]):
        return f"config not {' or '.join(published['configs'])}"
    return None


def states_its_setting(published: dict) -> bool:
    """Whether an entry names its classes and modalities: one that does not is compared with nothing."""
    return "classes" in published and "modalities" in published


def comparable_rows(published: dict, aggs: list[dict]) -> list[dict]:
    """The result rows a published entry may be set beside."""
    return [a for a in aggs if mismatch(published, a) is None] if states_its_setting(published) else []


def comparability(published: dict, aggs: list[dict]) -> str:
    """The result rows a published entry may be compared with, or why none."""
    if not aggs:
        return "none: no run of this test set"
    same = [a for a in aggs if str(a.get("protocol")) == str(published["protocol"])]
    if not same:  # the first reason: no run under its protocol at all
        return f"none: no run under protocol {published['protocol']} here"
    if not states_its_setting(published):
        return "not stated (add classes and modalities to the entry)"
    matches = comparable_rows(published, same)
    if matches:
        return ", ".join(str(a["config"]) for a in matches)
    return "none: runs here have " + "; ".join(sorted({mismatch(published, a) for a in same}))


def _cell(text) -> str:
    return "—" if text is None or text == "" else str(text).replace("|", "\\|")


def percent(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def mean_std(agg: dict, key: str) -> str:
    mean, std = agg["mean"].get(key), agg["std"].get(key)
    if mean is None:
        return "—"
    return percent(mean) + (f" ± {percent(std)}" if std is not None else "")


def folds_text(agg: dict) -> str:
    n = agg.get("num_folds", len(agg.get("folds", {})))
    if agg.get("seeds"):
        n = f"{n} x {len(agg['seeds'])} seeds"
    if agg.get("complete", True):
        return str(n)
    return f"{n} of {agg.get('expected_folds', '?')} (missing {' '.join(agg.get('missing_folds', []))})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def columns(published: list[dict]) -> list[str]:
    """The registry's default columns, then each other metric a published entry names."""
    named = {k for p in published for k in _metrics_of(p)}
    return list(default_columns()) + sorted(named - set(default_columns()))


def _published_table(entries: list[dict], metrics: list[str], aggs: list[dict]) -> list[str]:
    return _table(["published", "table", "row", "protocol", "classes", "modalities"]
                  + [METRICS[k].label for k in metrics] + ["comparable with"],
                  [[p["paper"], p.get("table"), p.get("row"), p["protocol"], p.get("classes"), p.get("modalities")]
                   + [_cell(p.get(k)) for k in metrics] + [comparability(p, aggs)] for p in entries])


def config_label(agg: dict) -> str:
    marks = [m for m, on in (("transductive", agg.get("transductive")), ("fitted on it", agg.get("fitted_on"))) if on]
    return f"{agg['config']}" + "".join(f" ({m})" for m in marks)


def render_set(test_set: str, aggs: list[dict], published: list[dict]) -> list[str]:
    lines = [f"## Test set `{test_set}`", "",
             "Mean ± sample standard deviation (ddof 1) over folds, in %. One fold: mean only.", ""]
    metrics = columns(published)
    names = [METRICS[k].label for k in metrics]
    lines += _table(["config", "protocol", "folds", "modalities", "aggregation"] + names,
                    [[config_label(a), a["protocol"], folds_text(a), a.get("modalities"), a.get("aggregation")]
                     + [mean_std(a, k) for k in metrics] for a in aggs])
    if any(a.get("transductive") for a in aggs):
        lines += ["", "(transductive): per-speaker CMVN (`cmvn: speaker`) normalises each test speaker with the "
                  "statistics of that speaker's own test utterances."]
    if any(a.get("fitted_on") for a in aggs):
        lines += ["", f"(fitted on it): the system learnt from `{test_set}` (`fit_on: train+valid`, a refit twin): "
                  "its figures on this set are training scores, not held-out ones."]
    if any(a.get("seeds") for a in aggs):
        lines += ["", "`N x K seeds`: mean ± std over every (fold, seed) pair: one system's runs with K seeds "
                  "(emo.sh --seeds), taken as one."]
    for note in selection_notes(aggs, test_set):  # a paragraph each
        lines += ["", note]
    lines += ["", "Pooled over folds (all folds' predictions scored as one set), in %:", ""]
    lines += _table(["config", "protocol", "utts"] + names,
                    [[config_label(a), a["protocol"], a["pooled"].get("num_utts")]
                     + [percent(a["pooled"].get(k)) for k in metrics] for a in aggs])
    if published:
        lines += ["", "Published (as printed in the papers, in %). A published number may be compared only with "
                  "the rows named in its last column: same test set, protocol, number of classes and "
                  "modalities, and the same metric (a column left empty was not published):", ""]
        lines += _published_table(published, metrics, aggs)
    return lines + [""]


def _git_commit(where: Path) -> str | None:
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30)
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _version(pkg: str) -> str:
    # importlib.metadata avoids importing torch just to print its version.
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def header(recipe_dir: Path, command: str) -> list[str]:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return [f"# RESULTS: {recipe_dir.resolve().parent.name}/{recipe_dir.resolve().name}", "",
            "Generated by mer.scoring.results_md; do not edit by hand, rerun the command below.", "",
            f"- date: {now}",
            f"- git commit: {_git_commit(recipe_dir) or 'unknown (not a git checkout)'}",
            f"- python {platform.python_version()}, torch {_version('torch')}, "
            f"scikit-learn {_version('scikit-learn')}",
            f"- machine: {platform.node()} ({platform.platform()}, {platform.machine()})",
            f"- command: `{command}`", ""]


def recipe_published(recipe: Path, published: str | None = None) -> list[dict]:
    """The published numbers of a recipe: RECIPE/<published>, which must exist, or with None
    conf/published.yaml where there is one."""
    if published is None:
        pub_path = recipe / "conf" / "published.yaml"
        return load_published(pub_path) if pub_path.is_file() else []
    pub_path = recipe / published
    if not pub_path.is_file():
        raise ScoringError(f"{pub_path}: no such published-results file")
    return load_published(pub_path)


def published_by_set(entries: list[dict]) -> dict[str, list[dict]]:
    """test set (default "test") -> the published entries of that set."""
    by_set: dict[str, list[dict]] = {}
    for p in entries:
        by_set.setdefault(str(p.get("test_set", "test")), []).append(p)
    return by_set


def make_results(recipe_dir: str | os.PathLike, exp: str = "exp", out: str = "RESULTS.md",
                 published: str | None = None, command: str | None = None,
                 data: str = "data") -> tuple[Path, bool]:
    """Write RECIPE_DIR/<out>; relative exp/out/published/data paths are taken from RECIPE_DIR
    (data/<protocol>/fold*/audit.json: the protocol audit of stage 1).
    published=None reads conf/published.yaml when it exists. Returns (path, written): an existing
    file with the same results and command (only its provenance lines would change) is kept."""
    recipe = Path(recipe_dir)
    if not recipe.is_dir():
        raise ScoringError(f"{recipe}: not a directory")
    exp_dir = recipe / exp
    pub = recipe_published(recipe, published)
    by_set = collect(exp_dir) if exp_dir.is_dir() else {}
    command = command or "python -m mer.bin.make_results " + shlex.join(sys.argv[1:])

    lines = header(recipe, command)
    dropped = dropped_notes(exp_dir) if exp_dir.is_dir() else []
    if dropped:
        lines += ["**Utterances left out of training** (labels outside the recipe's label set, "
                  "dropped by `labels.unknown: drop`; counts per label, summed over folds):", ""]
        lines += [f"- {note}" for note in dropped] + [""]
    protocols = {str(a["protocol"]) for aggs in by_set.values() for a in aggs}
    if protocols:
        lines += ["**Protocol audit** (stage 1, per fold in data/<protocol>/fold*/audit.json): speakers, sessions "
                  "and dialogues in two parts of a fold, test transcripts (lower case, no punctuation) also "
                  "in train, whether valid is test:", ""]
        lines += [f"- {note}" for note in audit_notes(recipe / data, protocols, data)] + [""]
    if not by_set:
        lines += [f"No scores_<set>.json under {exp}/<protocol>/<config>/ yet "
                  "(run mer.bin.score and mer.bin.aggregate_scores).", ""]
    pub_by_set = published_by_set(pub)
    for test_set in sorted(by_set):
        lines += render_set(test_set, by_set[test_set], pub_by_set.pop(test_set, []))
    for test_set, entries in sorted(pub_by_set.items()):  # published sets we have no run for yet
        lines += [f"## Test set `{test_set}`: published only", ""]
        lines += _published_table(entries, columns(entries), []) + [""]
    out_path = recipe / out
    text = "\n".join(lines)
    if out_path.is_file() and same_results(out_path.read_text(encoding="utf-8"), text):
        return out_path, False
    write_text_atomic(out_path, text)
    return out_path, True


def same_results(old: str, new: str) -> bool:
    """Whether two RESULTS.md texts differ at most in their provenance lines (date, commit,
    versions, machine): then the old file stays as it is, its header still naming the commit and
    machine that produced these very results, and a rerun (the demo) leaves the checkout clean."""
    return _without_provenance(old) == _without_provenance(new)


def _without_provenance(text: str) -> list[str]:
    lines = text.splitlines()
    end = next((i for i, ln in enumerate(lines) if ln.startswith("- command:")), 0)  # the header ends there
    return [ln for i, ln in enumerate(lines) if i >= end or not ln.startswith(PROVENANCE_LINES)]
