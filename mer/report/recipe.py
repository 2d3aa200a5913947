"""What a report page shows of one recipe, read from what stages 1, 5 and 6 wrote: the same
aggregated scores, published numbers, protocol audit and notes as RESULTS.md (mer.scoring.results_md),
and the figures of stage 6 (mer.report.figures)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mer.report.figures import FigureFile, set_figures, system_figures
from mer.scoring.dropped_labels import dropped_notes
from mer.scoring.protocol_notes import audit_notes
from mer.scoring.results_md import collect, published_by_set, recipe_published

RECIPE_MARKER = "run.sh"


@dataclass
class System:
    """One exp/<protocol>/<config> dir: its scores per test set and its figures."""
    protocol: str
    config: str
    aggs: dict[str, dict]                       # test set -> aggregated scores
    figures: dict[str, list[FigureFile]]        # test set -> its figures
    other_figures: list[FigureFile] = field(default_factory=list)


@dataclass
class RecipeResults:
    name: str                                   # <corpus>/<system>, as RESULTS.md's title
    path: Path
    by_set: dict[str, list[dict]]               # mer.scoring.results_md.collect
    published: dict[str, list[dict]]            # test set -> published entries
    audit: list[str]
    dropped: list[str]
    systems: list[System]
    set_figures: dict[tuple[str, str], list[FigureFile]]  # (protocol, test set) -> side-by-side figures


def recipe_name(recipe: Path) -> str:
    return f"{recipe.resolve().parent.name}/{recipe.resolve().name}"


def has_results(recipe: Path, exp: str = "exp") -> bool:
    return any((recipe / exp).glob("*/*/scores_*.json"))


def read_recipe(recipe_dir: str | os.PathLike, exp: str = "exp", data: str = "data") -> RecipeResults:
    """The results of RECIPE_DIR/<exp> (raises mer.scoring.decode_dir.ScoringError on unreadable ones)."""
    recipe = Path(recipe_dir)
    exp_dir = recipe / exp
    by_set = collect(exp_dir) if exp_dir.is_dir() else {}
    protocols = {str(a["protocol"]) for aggs in by_set.values() for a in aggs}
    by_dir: dict[str, dict[str, dict]] = {}
    for test_set, aggs in sorted(by_set.items()):
        for a in aggs:
            by_dir.setdefault(a["exp_config_dir"], {})[test_set] = a
    systems = []
    for d, aggs in sorted(by_dir.items()):
        first = next(iter(aggs.values()))
        figures, other = system_figures(aggs)
        systems.append(System(str(first["protocol"]), str(first["config"]), aggs, figures, other))
    shown = {f.path.name for s in systems for f in [*s.other_figures, *(x for fs in s.figures.values() for x in fs)]}
    return RecipeResults(
        name=recipe_name(recipe), path=recipe, by_set=by_set,
        published=published_by_set(recipe_published(recipe)),
        audit=audit_notes(recipe / data, protocols, data) if protocols else [],
        dropped=dropped_notes(exp_dir) if exp_dir.is_dir() else [],
        systems=systems,
        set_figures=set_figures(exp_dir, shown) if exp_dir.is_dir() else {})


def find_recipes(root: str | os.PathLike, exp: str = "exp") -> tuple[list[Path], list[Path]]:
    """The recipes under ROOT (<corpus>/<system>/run.sh, as egs/ holds them): (with results, without)."""
    recipes = sorted(p.parent for p in Path(root).glob(f"*/*/{RECIPE_MARKER}"))
    return [r for r in recipes if has_results(r, exp)], [r for r in recipes if not has_results(r, exp)]
