"""Generate a recipe's RESULTS.md from exp/<protocol>/<config>/scores_<set>.json.

One table per test set with one row per (configuration, protocol), the protocol named on every
row; mean ± sample std over folds, then the pooled scores, then published numbers (if any) read
from a YAML list, each labelled with the protocol it was obtained under.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from mer.scoring.decode_dir import ScoringError
from mer.utils.fileio import write_text_atomic

COLUMNS = (("ua", "UA"), ("wa", "WA"), ("macro_f1", "macro-F1"), ("weighted_f1", "weighted-F1"))
PUBLISHED_REQUIRED = ("paper", "protocol")


def collect(exp_dir: str | os.PathLike) -> dict[str, list[dict]]:
    """test set -> aggregated score dicts, sorted by (config, protocol)."""
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
        test_set = path.stem[len("scores_"):]
        by_set.setdefault(test_set, []).append(agg)
    for rows in by_set.values():
        rows.sort(key=lambda a: (str(a["config"]), str(a["protocol"])))
    return by_set


def load_published(path: str | os.PathLike) -> list[dict]:
    """Entries like `- {paper: memocmt, table: "Table 1", row: "...", protocol: random, ua: 81.33, wa: 81.85}`;
    values are percentages as printed in the paper. Optional `test_set` (default "test")."""
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
        if not any(k in entry for k, _ in COLUMNS):
            raise ScoringError(f"{path}: entry {i} has none of {', '.join(k for k, _ in COLUMNS)}")
        for k, _ in COLUMNS:
            v = entry.get(k)
            if v is not None and (not isinstance(v, (int, float)) or not 0 <= v <= 100):
                raise ScoringError(f"{path}: entry {i}: {k}={v!r} is not a percentage in [0, 100]")
    return data


def _cell(text) -> str:
    return "—" if text is None or text == "" else str(text).replace("|", "\\|")


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def _mean_std(agg: dict, key: str) -> str:
    mean, std = agg["mean"].get(key), agg["std"].get(key)
    if mean is None:
        return "—"
    return _pct(mean) + (f" ± {_pct(std)}" if std is not None else "")


def _folds(agg: dict) -> str:
    n = agg.get("num_folds", len(agg.get("folds", {})))
    if agg.get("complete", True):
        return str(n)
    return f"{n} of {agg.get('expected_folds', '?')} (missing {' '.join(agg.get('missing_folds', []))})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_set(test_set: str, aggs: list[dict], published: list[dict]) -> list[str]:
    lines = [f"## Test set `{test_set}`", "",
             "Mean ± sample standard deviation (ddof 1) over folds, in %. One fold: mean only.", ""]
    names = [name for _, name in COLUMNS]
    lines += _table(["config", "protocol", "folds", "modalities", "aggregation"] + names,
                    [[a["config"], a["protocol"], _folds(a), a.get("modalities"), a.get("aggregation")]
                     + [_mean_std(a, k) for k, _ in COLUMNS] for a in aggs])
    lines += ["", "Pooled over folds (all folds' predictions scored as one set), in %:", ""]
    lines += _table(["config", "protocol", "utts"] + names,
                    [[a["config"], a["protocol"], a["pooled"].get("num_utts")]
                     + [_pct(a["pooled"].get(k)) for k, _ in COLUMNS] for a in aggs])
    if published:
        lines += ["", "Published (as printed in the papers, in %; compare only where the protocol matches):", ""]
        lines += _table(["published", "table", "row", "protocol"] + names,
                        [[p["paper"], p.get("table"), p.get("row"), p["protocol"]]
                         + [_cell(p.get(k)) for k, _ in COLUMNS] for p in published])
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


def make_results(recipe_dir: str | os.PathLike, exp: str = "exp", out: str = "RESULTS.md",
                 published: str | None = None, command: str | None = None) -> Path:
    """Write RECIPE_DIR/<out>; relative exp/out/published paths are taken from RECIPE_DIR.
    published=None reads conf/published.yaml when it exists."""
    recipe = Path(recipe_dir)
    if not recipe.is_dir():
        raise ScoringError(f"{recipe}: not a directory")
    exp_dir = recipe / exp
    if published is None:
        pub_path = recipe / "conf" / "published.yaml"
        pub = load_published(pub_path) if pub_path.is_file() else []
    else:
        pub_path = recipe / published
        if not pub_path.is_file():
            raise ScoringError(f"{pub_path}: no such published-results file")
        pub = load_published(pub_path)
    by_set = collect(exp_dir) if exp_dir.is_dir() else {}
    command = command or "python -m mer.bin.make_results " + shlex.join(sys.argv[1:])

    lines = header(recipe, command)
    if not by_set:
        lines += [f"No scores_<set>.json under {exp}/<protocol>/<config>/ yet "
                  "(run mer.bin.score and mer.bin.aggregate_scores).", ""]
    pub_by_set: dict[str, list[dict]] = {}
    for p in pub:
        pub_by_set.setdefault(str(p.get("test_set", "test")), []).append(p)
    for test_set in sorted(by_set):
        lines += render_set(test_set, by_set[test_set], pub_by_set.pop(test_set, []))
    for test_set, entries in sorted(pub_by_set.items()):  # published sets we have no run for yet
        lines += [f"## Test set `{test_set}`: published only", ""]
        lines += _table(["published", "table", "row", "protocol"] + [n for _, n in COLUMNS],
                        [[p["paper"], p.get("table"), p.get("row"), p["protocol"]]
                         + [_cell(p.get(k)) for k, _ in COLUMNS] for p in entries]) + [""]
    out_path = recipe / out
    write_text_atomic(out_path, "\n".join(lines))
    return out_path
