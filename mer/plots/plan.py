"""Several figure sets drawn in one process (stage 6): one Python start and one import of the
plotting stack for every system, and each configuration's decode outputs read once although its
own figures and the side-by-side ones both draw them.

A plan file holds one figure set per line, fields separated by tabs: TEST_SET, OUT_DIR, then one or
more experiment config dirs (exp/<protocol>/<config>); the line draws what
`mer.bin.plot --pool DIR... --test-set TEST_SET --out OUT_DIR` draws. Blank lines and lines that
start with # are ignored.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from mer.plots.figures import SKIPPED_FILE, Skips, make_plots
from mer.scoring.aggregate import fold_dirs
from mer.scoring.decode_dir import DecodeOutputs, ScoringError, load_decode_dir, pool_outputs


def load_pooled(exp_config_dir: str, test_set: str) -> DecodeOutputs:
    """All folds' decode_<set> dirs of one configuration as one set of outputs."""
    if not Path(exp_config_dir).is_dir():
        raise ScoringError(f"{exp_config_dir}: no such experiment dir")
    folds = {name: p / f"decode_{test_set}" for name, p in fold_dirs(exp_config_dir).items()
             if (p / f"decode_{test_set}" / "utt2pred").is_file()}
    if not folds:
        raise ScoringError(f"{exp_config_dir}: no fold*/decode_{test_set}/utt2pred")
    missing = [n for n in fold_dirs(exp_config_dir) if n not in folds]
    if missing:
        print(f"mer.bin.plot: warning: {exp_config_dir}: pooling without {', '.join(missing)} "
              f"(no decode_{test_set})", file=sys.stderr)
    return pool_outputs({n: load_decode_dir(d, allow_nonfinite=True) for n, d in folds.items()},
                        path=str(exp_config_dir))


@dataclass(frozen=True)
class FigureSet:
    """One line of a plan: the pooled outputs of `dirs` on `test_set`, drawn into `out`."""
    test_set: str
    out: str
    dirs: tuple[str, ...]
    where: str  # <plan file>:<line>, for messages


def read_plan(path: str) -> list[FigureSet]:
    """The figure sets of a plan file ("-": standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ScoringError(f"{path}: cannot read the plot plan ({e.strerror})") from None
    sets = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 3 or not all(fields):
            raise ScoringError(f"{path}:{i}: expected TEST_SET<tab>OUT_DIR<tab>EXP_CONFIG_DIR..., got {line!r}")
        sets.append(FigureSet(fields[0], fields[1], tuple(fields[2:]), f"{path}:{i}"))
    return sets


def draw_plan(sets: list[FigureSet], title_from: str = "meta", tsne_max: int = 2000, seed: int = 0,
              formats=("png",)) -> int:
    """Draws every figure set; one that cannot be drawn (an unreadable decode dir) is reported with
    its plan line, and the others are still drawn. Returns how many could not be drawn."""
    loaded: dict[tuple[str, str], DecodeOutputs | ScoringError] = {}

    def pooled(d: str, test_set: str) -> DecodeOutputs:
        if (d, test_set) not in loaded:
            try:
                loaded[d, test_set] = load_pooled(d, test_set)
            except ScoringError as e:
                loaded[d, test_set] = e
        if isinstance(loaded[d, test_set], ScoringError):
            raise loaded[d, test_set]
        return loaded[d, test_set]

    # one skip list per out dir: the sets of several test sets drawn into one dir (a system's
    # plots/) share its skipped.txt, which make_plots rewrites with the whole list
    skips_of: dict[str, Skips] = {}
    drawn: dict = {}  # each output's figures, for the side-by-side sets that draw it again
    failed = 0
    for fs in sets:
        skips = skips_of.setdefault(str(Path(fs.out).resolve()), Skips())
        before = len(skips)
        try:
            outputs = [pooled(d, fs.test_set) for d in fs.dirs]
            figures = make_plots(outputs, fs.out, title_from, tsne_max, seed, formats, skips, drawn)
        except ScoringError as e:
            print(f"mer.bin.plot: error: {fs.where}: {e}", file=sys.stderr)
            failed += 1
            continue
        print(wrote_message(len(figures) * len(formats), fs.out, skips[before:]))
    return failed


def wrote_message(files: int, out: str, skips: list) -> str:
    return (f"wrote {files} file(s) to {out}"
            + (f"; skipped {len(skips)} figure(s), listed in {Path(out) / SKIPPED_FILE}" if skips else ""))
