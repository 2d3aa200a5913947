"""The PNGs stage 6 drew (mer.bin.plot --plan), found on disk, each with a caption saying what it shows.

A system's own figures are in exp/<protocol>/<config>/plots/, named <output name>_<kind>.png (the
output name of its folds pooled on one test set, mer.plots.figures.output_name); the side-by-side
figures of a test set are in exp/<protocol>/plots_<set>/, beside copies of every system's own
figures, which the report shows once, with their system.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from mer.plots.figures import FIGURES, output_name

SET_PLOTS_PREFIX = "plots_"
_PAGE_RE = re.compile(r"^(?P<kind>.+?)(_p(?P<page>\d+))?$")


@dataclass(frozen=True)
class FigureFile:
    path: Path
    caption: str


def _described(kind: str) -> str:
    """What a figure of `kind` (a registered figure, else an extra output the model saved) shows."""
    if kind in FIGURES:
        return f"{kind.replace('_', ' ')}: {FIGURES.description(kind)}"
    return f"{kind.replace('_', ' ')} (an extra output of the model): {FIGURES.description('extra_outputs')}"


def system_figures(agg_by_set: dict[str, dict]) -> tuple[dict[str, list[FigureFile]], list[FigureFile]]:
    """One system's figures (test set -> its aggregated scores, all read from one exp dir): per
    test set the figures of its folds pooled, and the figures of no test set it was scored on."""
    exp_config_dir = Path(next(iter(agg_by_set.values()))["exp_config_dir"])
    prefixes = {test_set: output_name(SimpleNamespace(meta={"protocol": a.get("protocol"), "config": a.get("config"),
                                                            "test_set": test_set})) + "_"
                for test_set, a in agg_by_set.items()}
    by_set: dict[str, list[FigureFile]] = {}
    other: list[FigureFile] = []
    for path in sorted((exp_config_dir / "plots").glob("*.png")):
        # the longest prefix: test_asr's figures also start with test's prefix
        matches = sorted((s for s, p in prefixes.items() if path.stem.startswith(p)), key=len, reverse=True)
        if not matches:
            other.append(FigureFile(path, f"{path.name} (of no test set scored in the results)"))
            continue
        test_set = matches[0]
        n = agg_by_set[test_set].get("num_folds")
        kind = path.stem[len(prefixes[test_set]):]
        by_set.setdefault(test_set, []).append(
            FigureFile(path, f"{_described(kind)}. Test set {test_set}, {n} fold(s) pooled."))
    return by_set, other


def set_figures(exp_dir: Path, shown: set[str]) -> dict[tuple[str, str], list[FigureFile]]:
    """(protocol, test set) -> the figures of exp/<protocol>/plots_<set>/ that are not named in
    `shown` (the file names of the systems' own figures, copied there)."""
    found: dict[tuple[str, str], list[FigureFile]] = {}
    for d in sorted(exp_dir.glob(f"*/{SET_PLOTS_PREFIX}*")):
        test_set = d.name[len(SET_PLOTS_PREFIX):]
        for path in sorted(d.glob("*.png")):
            if path.name in shown:
                continue
            m = _PAGE_RE.match(path.stem)
            page = f", page {m.group('page')}" if m.group("page") else ""
            found.setdefault((d.parent.name, test_set), []).append(
                FigureFile(path, f"{_described(m.group('kind'))}. Protocol {d.parent.name}, test set "
                                 f"{test_set}{page}."))
    return found
