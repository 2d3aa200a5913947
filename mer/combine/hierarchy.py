"""System C's hierarchy: route with a speech gate, classify emotions with speech, re-classify
predicted-neutral utterances with text (Alqurashi et al., IJCNN 2024; Algorithm 1).

Made from three trained systems' decode dirs (each decodes every utterance of valid and test):

- `gate` (Model 1, speech): neutral vs emotional. Its decision (`utt2pred`) routes every utterance;
  its errors flow on (no oracle routing).
- `emotion` (Model 2, speech, trained on emotional utterances only): decides the utterances the
  gate called emotional (its own `utt2pred`).
- `text` (Model 3, text, 4 classes): decides the utterances the gate called neutral, under the
  modality consistency and confidence threshold t: neutral when its posterior of neutral
  P >= t, else its own decision (`utt2pred`, the arg-max, which may still be neutral). P and t are
  compared at the float32 precision posteriors are stored with, so a tie at exactly t is neutral.
  `text: null` is the speech-only hierarchy (the gate's neutral stays neutral).

`thresholds`: the candidate t values (default 0.25 0.30 0.35 0.40); `null` = the text model's
plain decision (no threshold, the paper's hierarchy before Algorithm 1). With several candidates
the one with the best `select_metric` on `select_on` (the valid set; a tie goes to the first
listed) is used for every set; every candidate is reported. Decode dirs: `utt2pred` = the routed
decision; `posteriors` = the soft composition P(c) = P1(emotional) P2(c) + P1(neutral) P3(c) (for
ROC curves; its arg-max is not the decision); `route_text` (1 = the gate sent it to text).

Per fold `hierarchy.json` (the sweep and every utterance's route); after all folds, in the
combiner's exp dir: `hierarchy_sweep.json`, `hierarchy_report.md` (every t; the share of
emotional utterances that speech called neutral and text corrected; corrected and wrongly
corrected examples with transcripts) and `plots/neutral_pr_<set>.png` (the neutral class's
precision and recall over thresholds).

    combiner: {name: hierarchy, gate: train_gate, emotion: train_emotion, text: train_text,
               neutral: neu, thresholds: [0.25, 0.30, 0.35, 0.40], select_on: valid, select_metric: ua}
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from mer.combine.base import AbsCombiner, FoldContext, register_combiner
from mer.combine.hierarchy_report import write_reports
from mer.combine.routing import DEFAULT_THRESHOLDS, PR_GRID, SPEECH_ONLY, decide, sweep_stats, threshold_key
from mer.scoring.decode_dir import DecodeOutputs, describe_mismatch
from mer.utils.fileio import write_json_atomic

log = logging.getLogger(__name__)

@register_combiner("hierarchy")
class Hierarchy(AbsCombiner):
    def __init__(self, gate: str, emotion: str, text: str | None = None, neutral: str = "neu",
                 classes: list[str] | None = None, thresholds=DEFAULT_THRESHOLDS, select_on: str = "valid",
                 select_metric: str = "ua", examples: int = 20):
        from mer.metrics import selectable_metrics

        if select_metric not in selectable_metrics():
            raise ValueError(f"hierarchy: select_metric must be one of {', '.join(selectable_metrics())}, "
                             f"got '{select_metric}'")
        if thresholds is None or isinstance(thresholds, (int, float)):
            thresholds = [thresholds]
        self.candidates: list[float | None] = [None if t is None else float(t) for t in thresholds]
        if not self.candidates:
            raise ValueError("hierarchy: thresholds is empty (null means the text model's arg-max)")
        for t in self.candidates:
            if t is not None and not 0.0 <= t <= 1.0:
                raise ValueError(f"hierarchy: threshold {t} is not a probability in [0, 1]")
        if text is None:
            self.candidates = [None]  # speech only: a threshold has nothing to act on
        self.gate, self.emotion, self.text, self.neutral = gate, emotion, text, neutral
        self.classes, self.select_on, self.select_metric = classes, select_on, select_metric
        self.examples = int(examples)

    # ------------------------------------------------------------ one fold
    def _load(self, ctx: FoldContext, test_set: str) -> dict:
        outs: dict[str, DecodeOutputs] = {"gate": ctx.load(self.gate, test_set),
                                          "emotion": ctx.load(self.emotion, test_set)}
        if self.text:
            outs["text"] = ctx.load(self.text, test_set)
        utts = outs["gate"].utts
        for role, out in outs.items():
            msg = describe_mismatch(f"{out.path} ({role})", out.utts, f"{outs['gate'].path} (gate)", utts)
            if msg:
                raise ValueError(f"hierarchy: {msg}")
        if self.neutral not in outs["gate"].classes:
            raise ValueError(f"hierarchy: the gate {outs['gate'].path} has classes {outs['gate'].classes}, "
                             f"without the neutral class '{self.neutral}'")
        if self.text and self.neutral not in outs["text"].classes:
            raise ValueError(f"hierarchy: the text model {outs['text'].path} has classes {outs['text'].classes}, "
                             f"without the neutral class '{self.neutral}'")
        return outs

    def _classes(self, outs: dict) -> list[str]:
        if self.classes:
            classes = list(self.classes)
        elif "text" in outs:
            classes = list(outs["text"].classes)
        else:
            classes = sorted({self.neutral, *outs["emotion"].classes})
        for role in outs:
            if role != "gate":
                extra = set(outs[role].classes) - set(classes)
                if extra:
                    raise ValueError(f"hierarchy: {outs[role].path} ({role}) decides {sorted(extra)}, which are "
                                     f"not among the classes {classes}")
        if self.neutral not in classes:
            raise ValueError(f"hierarchy: the classes {classes} lack the neutral class '{self.neutral}'")
        return classes

    def _refs(self, ctx: FoldContext, test_set: str, outs: dict) -> dict[str, str]:
        if ctx.has_data(test_set):
            refs = ctx.data(test_set).utt2emo
        else:  # decode dirs alone: the references they carry (the text model's are unmapped)
            src = outs["text"] if "text" in outs else outs["emotion"]
            refs = dict(zip(src.utts, src.refs))
        missing = [u for u in outs["gate"].utts if u not in refs]
        if missing:
            raise ValueError(f"hierarchy: no reference label for {len(missing)} utterance(s) of {test_set}, "
                             f"e.g. {missing[0]}")
        return refs

    def _soft(self, outs: dict, classes: list[str]) -> np.ndarray:
        """P(c) = P1(emotional) P2(c) + P1(neutral) P3(c); speech only: P3 = one-hot neutral."""
        g = outs["gate"]
        p_neu = g.posteriors[:, g.classes.index(self.neutral)]
        post = np.zeros((len(g.utts), len(classes)))
        e = outs["emotion"]
        for j, c in enumerate(e.classes):
            post[:, classes.index(c)] += (1.0 - p_neu) * e.posteriors[:, j]
        if "text" in outs:
            t = outs["text"]
            for j, c in enumerate(t.classes):
                post[:, classes.index(c)] += p_neu * t.posteriors[:, j]
        else:
            post[:, classes.index(self.neutral)] += p_neu
        return post

    def run_fold(self, ctx: FoldContext) -> None:
        sets: dict[str, dict] = {}
        for test_set in ctx.test_sets:
            outs = self._load(ctx, test_set)
            classes = self._classes(outs)
            refs = self._refs(ctx, test_set, outs)
            utts = outs["gate"].utts
            text = ctx.data(test_set).text if ctx.has_data(test_set) else {}
            t_out = outs.get("text")
            p_tn = (t_out.posteriors[:, t_out.classes.index(self.neutral)] if t_out is not None else None)
            records = [{"utt": u, "ref": refs[u], "gate": outs["gate"].preds[i], "emotion": outs["emotion"].preds[i],
                        "text_pred": t_out.preds[i] if t_out is not None else None,
                        "p_text_neutral": float(p_tn[i]) if p_tn is not None else None,
                        "transcript": text.get(u)} for i, u in enumerate(utts)]
            sets[test_set] = {"classes": classes, "records": records, "outs": outs}
        chosen, selection = self._select(sets)
        report = {"threshold": chosen, "threshold_key": threshold_key(chosen), "selection": selection,
                  "candidates": [threshold_key(t) for t in self.candidates], "neutral": self.neutral,
                  "systems": {"gate": self.gate, "emotion": self.emotion, "text": self.text}, "sets": {}}
        for test_set, s in sets.items():
            records, classes = s["records"], s["classes"]
            final, to_text = self._decide(records, chosen)
            for rec, f in zip(records, final):
                rec["final"] = f
            refs = {r["utt"]: r["ref"] for r in records}
            ctx.write(test_set, [r["utt"] for r in records], classes, self._soft(s["outs"], classes), refs,
                      extras={"route_text": to_text.astype(np.float32)[:, None]}, preds=final,
                      system="hierarchy", modalities="audio+text" if self.text else "audio",
                      aggregation=f"t={threshold_key(chosen)}" if self.text else SPEECH_ONLY,
                      threshold=chosen, components=report["systems"], selection=selection)
            report["sets"][test_set] = {"classes": classes, "records": records,
                                        "sweep": self.sweep(records, classes)}
        write_json_atomic(ctx.out_dir / "hierarchy.json", report)

    def _decide(self, records: list[dict], t: float | None) -> tuple[list[str], np.ndarray]:
        text = [r["text_pred"] for r in records] if self.text else None
        p = np.array([r["p_text_neutral"] for r in records], dtype=np.float64) if self.text else None
        return decide([r["gate"] for r in records], [r["emotion"] for r in records], text, p, self.neutral, t)

    def sweep(self, records: list[dict], classes: list[str]) -> dict:
        """Every candidate, the speech-only hierarchy, the plain arg-max and the PR grid."""
        refs = [r["ref"] for r in records]
        rows = {SPEECH_ONLY: decide([r["gate"] for r in records], [r["emotion"] for r in records], None, None,
                                    self.neutral, None)}
        if self.text:
            for t in [None, *self.candidates, *PR_GRID]:
                rows.setdefault(threshold_key(t), self._decide(records, t))
        return {k: sweep_stats(refs, f, r, classes, self.neutral) for k, (f, r) in rows.items()}

    def _select(self, sets: dict) -> tuple[float | None, dict]:
        if len(self.candidates) == 1:
            return self.candidates[0], {"how": "fixed"}
        if self.select_on not in sets:
            raise ValueError(f"hierarchy: t is chosen on '{self.select_on}', which is not among the test sets "
                             f"({' '.join(sets)}): decode it too (a recipe's --test_sets \"valid test\")")
        s = sets[self.select_on]
        refs = [r["ref"] for r in s["records"]]
        values = {}
        for t in self.candidates:
            final, to_text = self._decide(s["records"], t)
            values[threshold_key(t)] = sweep_stats(refs, final, to_text, s["classes"], self.neutral)[self.select_metric]
        best = max(self.candidates, key=lambda t: values[threshold_key(t)])  # first of equals wins
        return best, {"how": "best on set", "set": self.select_on, "metric": self.select_metric, "values": values}

    # ------------------------------------------------------------ all folds
    def summarize(self, out_dir: Path, folds: list[str]) -> None:

        reports = {}
        for fold in folds:
            path = Path(out_dir) / fold / "hierarchy.json"
            if path.is_file():
                reports[fold] = json.loads(path.read_text(encoding="utf-8"))
        if not reports:
            return
        write_reports(self, Path(out_dir), reports)

