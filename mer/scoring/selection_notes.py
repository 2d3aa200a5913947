"""What RESULTS.md says beside a row whose settings were chosen per fold (the `select` combiner).

A select combiner leaves `selection.json` in its exp dir (mer.combine.select): the set it chose on
(the validation speakers of each fold), the metric and the candidates. A result over seeds
(mer.scoring.seeds) reads it from its first run.
"""
from __future__ import annotations

import json
from pathlib import Path

from mer.scoring.decode_dir import ScoringError


def selection_of(config_dir: Path, agg: dict) -> dict | None:
    """The selection summary of exp/<protocol>/<config> (or of its first seed's run), or None."""
    where = [config_dir] + [config_dir.parent / s for s in agg.get("seeds") or []][:1]
    for d in where:
        path = d / "selection.json"
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise ScoringError(f"{path}: not valid JSON: {e}") from e
    return None


def selection_notes(aggs: list[dict], test_set: str) -> list[str]:
    """One line per distinct selection (the rows that share it named together); in the table of the
    set they were chosen on, that their figures there are the ones they were chosen by."""
    groups: dict[str, list[str]] = {}
    for a in aggs:
        sel = a.get("selection")
        if not sel:
            continue
        how = (f"settings chosen per fold on the validation speakers only (`{sel.get('selected_on')}`, by "
               f"{sel.get('metric')}; the test folds were not used) (select over: {', '.join(sel.get('candidates', []))})")
        if sel.get("refit") and test_set != sel.get("selected_on"):
            how += ("; then the chosen settings fitted again on train+valid (the candidate's `_refit` twin) "
                    "and tested once")
        if test_set == sel.get("selected_on"):
            how += "; on this set, the scores they were chosen by (optimistic)"
        groups.setdefault(how, []).append(f"`{a['config']}`")
    return [f"{', '.join(rows)}: {how}." for how, rows in groups.items()]
