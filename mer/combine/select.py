"""Choose one system per outer fold on that fold's validation set, and report it on the test set.

Each candidate is another system of the recipe: a trained config (by its config name, resolved to
its experiment tag as for any combiner) or a combiner's exp dir (a probe: `probe_<name>`). Per
fold, every candidate's decode of `selected_on` (the fold's validation speakers, disjoint from its
test speakers) is scored with `metric`; the best one (a tie: the first listed) is picked, and its
decode dirs of every set the recipe decodes are rewritten as this combiner's own, so scoring,
plots and packing see an ordinary system. The test decodes are read only to be copied: nothing
about them enters the choice. `selection.json` in each fold dir records the pick and every
candidate's validation score; after all folds, `selection.json` in the combiner's dir sums them up
(RESULTS.md names the candidates beside the row).

    combiner: {name: select, candidates: [train_audio_cmvn, "probe_sel_*"], metric: ua, refit: false}

A candidate with `*`, `?` or `[` is a pattern over the systems the recipe declares (emo.sh passes
its trained configs and probes), expanded in their declared order; one that matches none is an
error.

The candidates need a decode of the validation set: the recipe decodes it with
`--test_sets "valid test"`. A probe candidate must be fitted on the training speakers alone
(`fit_on: train`), or its validation score is a training score.

`refit: false` (default): the row is exactly the picked candidate's test decode, a model that never
saw the validation speakers. `refit: true`: the row is the test decode of the picked candidate's
refit twin, `<name>_refit` (emo.sh --refit true makes one per trained config and probe: the same
settings fitted on train+valid), as in nested cross-validation: the settings are chosen on the
validation speakers, then learnt from all of the fold's speakers but the test one. The choice
itself is the same in both (the twins are never candidates: they learnt from the validation set).
The validation decode of a refit row stays the picked candidate's own (what the choice was made on).
"""
from __future__ import annotations

import fnmatch
import json
import logging
from pathlib import Path

from mer.combine.base import AbsCombiner, FoldContext, register_combiner
from mer.scoring.decode_dir import ScoringError, load_decode_dir, read_meta, write_decode_dir
from mer.scoring.protocol_notes import TRANSDUCTIVE_MODE, transductive
from mer.utils.fileio import write_json_atomic

log = logging.getLogger(__name__)

# Meta fields a copied decode dir takes from this combiner, not from the candidate it copies.
OWN_META = ("protocol", "config", "fold", "test_set", "corpus", "num_utts", "extra_outputs")
# A system's refit twin (emo.sh --refit true): its settings fitted on train+valid.
REFIT_SUFFIX = "_refit"


@register_combiner("select")
class Select(AbsCombiner):
    def __init__(self, candidates: list[str], metric: str = "ua", selected_on: str = "valid", refit: bool = False):
        from mer.metrics import get_metric, selectable_metrics

        if isinstance(candidates, str) or not candidates:
            raise ValueError("select: candidates must be a non-empty list of system names")
        dupes = sorted({c for c in candidates if candidates.count(c) > 1})
        if dupes:
            raise ValueError(f"select: candidate(s) listed twice: {', '.join(dupes)}")
        if metric not in selectable_metrics():
            raise ValueError(f"select: metric must be one of {', '.join(selectable_metrics())}, got '{metric}'")
        self.candidates = [str(c) for c in candidates]
        if not isinstance(refit, bool):
            raise ValueError(f"select: refit must be true or false, got {refit!r}")
        self.metric, self.selected_on, self.refit = metric, selected_on, refit
        self.higher_is_better = get_metric(metric).higher_is_better

    def expand(self, declared: list[str]) -> list[str]:
        """The candidates with each pattern replaced by the declared systems it matches (refit twins
        left out: they learnt from the validation set)."""
        names: list[str] = []
        twins = {d for d in declared if d.endswith(REFIT_SUFFIX) and d[:-len(REFIT_SUFFIX)] in declared}
        for c in self.candidates:
            if not any(ch in c for ch in "*?["):
                found = [c]
            else:
                found = [d for d in declared if fnmatch.fnmatchcase(d, c) and d not in twins]
                if not found:
                    raise ValueError(f"select: candidate pattern '{c}' matches none of the recipe's systems "
                                     f"({', '.join(declared) or 'none declared'})")
            names += [n for n in found if n not in names]
        return names

    def valid_scores(self, ctx: FoldContext) -> dict[str, float]:
        """Every candidate's `metric` on this fold's `selected_on` decode, in the listed order."""
        from mer.metrics import score

        scores = {}
        for name in self.expand(list(ctx.system_dirs)):
            try:
                out = load_decode_dir(ctx.decode_dir(name, self.selected_on))
            except (FileNotFoundError, ScoringError) as e:
                raise ValueError(f"select: candidate '{name}' ({ctx.fold_dir.name}): {e}") from e
            scores[name] = score(out.refs, out.preds, labels=out.classes, metrics=[self.metric])[self.metric]
        return scores

    def pick(self, scores: dict[str, float]) -> str:
        sign = 1 if self.higher_is_better else -1
        return max(scores, key=lambda name: sign * scores[name])  # max keeps the first of equals

    def run_fold(self, ctx: FoldContext) -> None:
        scores = self.valid_scores(ctx)
        chosen = self.pick(scores)
        log.info("%s: %s (%s %s %.4f)", ctx.fold_dir.name, chosen, self.selected_on, self.metric, scores[chosen])
        system_dir = ctx.exp_root / ctx.system_dirs.get(chosen, chosen)
        reported = chosen + REFIT_SUFFIX if self.refit else chosen
        if self.refit and reported not in ctx.system_dirs:
            raise ValueError(f"select: refit: true, but '{chosen}' ({ctx.fold_dir.name}) has no refit twin "
                             f"'{reported}': run the recipe with --refit true")
        modalities = sorted({str(read_meta(ctx.decode_dir(n, self.selected_on)).get("modalities"))
                             for n in scores})
        selection = {"selected": chosen, "system_dir": system_dir.name, "selected_on": self.selected_on,
                     "metric": self.metric, "candidates": list(scores), "valid_scores": scores,
                     "refit": self.refit, "reported": reported,
                     "reported_dir": (ctx.exp_root / ctx.system_dirs.get(reported, reported)).name}
        for test_set in ctx.test_sets:
            # the set the choice was made on: the candidate's own decode (a twin learnt from it)
            src = ctx.decode_dir(chosen if test_set == self.selected_on else reported, test_set)
            out = load_decode_dir(src, need_posteriors=True, keep_out_of_set=True)
            meta = {k: v for k, v in out.meta.items() if k not in OWN_META}
            if transductive(system_dir):  # a trained candidate says so in its fold's config.yaml only
                meta["cmvn"] = TRANSDUCTIVE_MODE
            meta.update(ctx.meta, test_set=test_set, system="select", aggregation="chosen on " + self.selected_on,
                        modalities="/".join(modalities), selected=chosen, selected_on=self.selected_on,
                        select_metric=self.metric, candidates=list(scores), source=str(src),
                        refit=self.refit)
            extras = {n: out.output(n) for n in out.meta.get("extra_outputs") or []}
            write_decode_dir(ctx.out_dir / f"decode_{test_set}", out.utts, out.classes, out.posteriors,
                             out.embeddings(), meta, refs=dict(zip(out.utts, out.refs)), extras=extras,
                             preds=out.preds)
        write_json_atomic(ctx.out_dir / "selection.json", selection)

    def summarize(self, out_dir: Path, folds: list[str]) -> None:
        picks = {f: json.loads((out_dir / f / "selection.json").read_text(encoding="utf-8")) for f in folds
                 if (out_dir / f / "selection.json").is_file()}
        counts: dict[str, int] = {}
        for p in picks.values():
            counts[p["selected"]] = counts.get(p["selected"], 0) + 1
        write_json_atomic(out_dir / "selection.json", {
            "selected_on": self.selected_on, "metric": self.metric, "candidates": self.candidates,
            "refit": self.refit,
            "picked": {f: p["selected"] for f, p in picks.items()}, "times_picked": counts})
