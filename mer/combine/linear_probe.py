"""Linear-probe baseline: logistic regression on pooled frames of one layer of a dump, per fold.

Pools each utterance's frames of the chosen layer (mean, or mean and standard deviation side by
side), standardises, fits on train+valid (`fit_on: train`: the training speakers alone, so that its
decode of the valid set is a held-out score a `select` combiner may choose on) and writes decode dirs whose embeddings are the pooled
vectors, so a probe is scored and plotted like any trained model. `cmvn` (speaker | utterance)
normalises the frames first, exactly as a trained model's input with that `cmvn` is normalised
(mer.inputs.CMVNInput), so the two compare on the same features.

    combiner: {name: linear_probe, dump: whisper, layer: 2, pool: mean+std, C: 1.0, cmvn: speaker}

`layer` is a position among the layers the dump stores; `hidden_state` names the encoder's hidden
state instead (4 reads position 1 of a dump of `layers: 3,4,5`) and refuses one not stored.
The regression is solved to its optimum (`fit_probe`), so a probe reproduces on any machine: with
lbfgs stopped at its default tolerance, where it stopped depended on the CPU's BLAS kernels, and
the same EmoDB log-mel probe moved posteriors by up to 0.03 and flipped a label between kernels.
"""
from __future__ import annotations

import numpy as np

from mer.combine.base import AbsCombiner, FoldContext, register_combiner
from mer.inputs import DumpInput, FeatureDump, check_cmvn, with_cmvn

POOLS = ("mean", "mean+std")
FIT_ON = {"train+valid": ("train", "valid"), "train": ("train",)}
# Newton-CG to a gradient of 1e-10 in float64: the posteriors of two BLAS kernels agree to ~1e-8
# (lbfgs at tol 1e-4: 3e-2), at about twice lbfgs's time; newton-cholesky is exact too but its
# (classes x features)^2 Hessian is too slow for 1024 pooled dimensions.
SOLVER = {"solver": "newton-cg", "tol": 1e-10, "max_iter": 1000}


def fit_probe(X: np.ndarray, y: list[int], C: float):
    """Standardise, then the L2 logistic regression's optimum, in float64."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, **SOLVER))
    return clf.fit(np.asarray(X, dtype=np.float64), y)


def pooled(source, data, utts: list[str], how: str) -> np.ndarray:
    """One row per utterance: the mean (and standard deviation) over its frames from `source`."""
    rows = []
    for u in utts:
        x = source.load(data, u).numpy()
        parts = [x.mean(axis=0)] + ([x.std(axis=0)] if how == "mean+std" else [])
        rows.append(np.concatenate(parts))
    return np.stack(rows)


@register_combiner("linear_probe")
class LinearProbe(AbsCombiner):
    def __init__(self, dump: str, layer: int | None = None, pool: str = "mean+std", C: float = 1.0,
                 labels: list[str] | None = None, modality: str | None = None, cmvn: str | None = None,
                 hidden_state: int | None = None, fit_on: str = "train+valid"):
        if layer is not None and hidden_state is not None:
            raise ValueError("linear_probe: give `layer` (a position among the stored layers) or "
                             "`hidden_state`, not both")
        if pool not in POOLS:
            raise ValueError(f"linear_probe: pool must be one of {POOLS}, got '{pool}'")
        if fit_on not in FIT_ON:
            raise ValueError(f"linear_probe: fit_on must be one of {', '.join(FIT_ON)}, got '{fit_on}'")
        if cmvn is not None:
            check_cmvn("linear_probe: cmvn", cmvn)
        self.dump_name, self.layer, self.pool, self.C, self.cmvn = dump, layer, pool, float(C), cmvn
        self.labels, self.modality, self.hidden_state = labels, modality, hidden_state
        self.fit_on = fit_on
        self._dump: FeatureDump | None = None
        self._source = None

    def _open(self, ctx: FoldContext):
        """The chosen layer of the dump (the last without `layer`), CMVN-normalised if asked."""
        if self._source is None:
            self._dump = dump = FeatureDump(ctx.dumpdir / self.dump_name)
            if self.hidden_state is not None:
                [self.layer] = dump.positions_of([self.hidden_state], "linear_probe: hidden_state")
            if self.layer is not None and not 0 <= self.layer < dump.num_layers:
                raise ValueError(f"layer {self.layer}: {dump.path} stores {dump.num_layers} layers "
                                 f"(0..{dump.num_layers - 1})")
            layers = None if dump.num_layers == 1 else "last" if self.layer is None else [self.layer]
            self._source = with_cmvn(DumpInput(self.dump_name, dump, layers), {"cmvn": self.cmvn})
        return self._source

    def run_fold(self, ctx: FoldContext) -> None:
        source = self._open(ctx)
        dump = self._dump
        labels = self.labels or _label_set(ctx)
        # each part's labelled utterances (CMVN statistics come from each part's own dir)
        parts = [(d, [u for u in d.utts if d.utt2emo.get(u) in labels])
                 for d in map(ctx.data, FIT_ON[self.fit_on])]
        clf = fit_probe(np.concatenate([pooled(source, d, utts, self.pool) for d, utts in parts]),
                        [labels.index(d.utt2emo[u]) for d, utts in parts for u in utts], self.C)
        unit = dump.info.get("unit") == "token" or dump.info.get("feature") == "hf-text"
        modality = self.modality or ("text" if unit else "audio")
        for test_set in ctx.test_sets:
            test = ctx.data(test_set)
            feats = pooled(source, test, test.utts, self.pool)
            post = np.zeros((len(test.utts), len(labels)), dtype=np.float32)
            post[:, clf.classes_] = clf.predict_proba(feats.astype(np.float64))
            ctx.write(test_set, test.utts, labels, post, test.utt2emo, embeddings=feats, system="linear_probe",
                      aggregation=self.pool, modalities=modality, dump=str(dump.path), layer=self.layer,
                      cmvn=self.cmvn, C=self.C, fit_on=self.fit_on, **({} if self.hidden_state is None else {"hidden_state": self.hidden_state}))


def _label_set(ctx: FoldContext) -> list[str]:
    """The data's label set: `labels` beside the fold's training set, else its sorted labels."""
    path = ctx.fold_dir / "train" / "labels"
    if path.is_file():
        from mer.data.kaldi_io import read_list

        return read_list(path)
    return sorted(set(ctx.data("train").utt2emo.values()))
