"""Linear-probe baseline: logistic regression on pooled frames of one layer of a dump, per fold.

Pools each utterance's frames of the chosen layer (mean, or mean and standard deviation side by
side), standardises, fits on train+valid and writes decode dirs whose embeddings are the pooled
vectors, so a probe is scored and plotted like any trained model.

    combiner: {name: linear_probe, dump: whisper, layer: 2, pool: mean+std, C: 1.0}
"""
from __future__ import annotations

import numpy as np

from mer.combine.base import AbsCombiner, FoldContext, register_combiner
from mer.train.inputs import FeatureDump

POOLS = ("mean", "mean+std")


def pooled(dump: FeatureDump, utts: list[str], layer: int | None, how: str) -> np.ndarray:
    rows = []
    for u in utts:
        x = dump[u]
        if dump.num_layers > 1:
            index = dump.num_layers - 1 if layer is None else layer
            if not 0 <= index < dump.num_layers:
                raise ValueError(f"layer {layer}: {dump.path} stores {dump.num_layers} layers "
                                 f"(0..{dump.num_layers - 1})")
            x = x[:, index * dump.dim:(index + 1) * dump.dim]
        parts = [x.mean(axis=0)] + ([x.std(axis=0)] if how == "mean+std" else [])
        rows.append(np.concatenate(parts))
    return np.stack(rows)


@register_combiner("linear_probe")
class LinearProbe(AbsCombiner):
    def __init__(self, dump: str, layer: int | None = None, pool: str = "mean+std", C: float = 1.0,
                 labels: list[str] | None = None, modality: str | None = None):
        if pool not in POOLS:
            raise ValueError(f"linear_probe: pool must be one of {POOLS}, got '{pool}'")
        self.dump_name, self.layer, self.pool, self.C = dump, layer, pool, float(C)
        self.labels, self.modality = labels, modality
        self._dump: FeatureDump | None = None

    def _open(self, ctx: FoldContext) -> FeatureDump:
        if self._dump is None:
            self._dump = FeatureDump(ctx.dumpdir / self.dump_name)
        return self._dump

    def run_fold(self, ctx: FoldContext) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        dump = self._open(ctx)
        train, valid = ctx.data("train"), ctx.data("valid")
        refs = {**train.utt2emo, **valid.utt2emo}
        labels = self.labels or _label_set(ctx)
        utts = [u for u in train.utts + valid.utts if refs.get(u) in labels]
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=3000))
        clf.fit(pooled(dump, utts, self.layer, self.pool), [labels.index(refs[u]) for u in utts])
        unit = dump.info.get("unit") == "token" or dump.info.get("feature") == "hf-text"
        modality = self.modality or ("text" if unit else "audio")
        for test_set in ctx.test_sets:
            test = ctx.data(test_set)
            feats = pooled(dump, test.utts, self.layer, self.pool)
            post = np.zeros((len(test.utts), len(labels)), dtype=np.float32)
            post[:, clf.classes_] = clf.predict_proba(feats)
            ctx.write(test_set, test.utts, labels, post, test.utt2emo, embeddings=feats, system="linear_probe",
                      aggregation=self.pool, modalities=modality, dump=str(dump.path), layer=self.layer)


def _label_set(ctx: FoldContext) -> list[str]:
    """The data's label set: `labels` beside the fold's training set, else its sorted labels."""
    path = ctx.fold_dir / "train" / "labels"
    if path.is_file():
        from mer.data.kaldi_io import read_list

        return read_list(path)
    return sorted(set(ctx.data("train").utt2emo.values()))
