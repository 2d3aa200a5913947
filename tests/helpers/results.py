"""A small recipe folder with scored results, as stages 1 and 5 leave it: seeded decode dirs of
several systems and folds, scored and aggregated by the real mer.bin.score and
mer.bin.aggregate_scores, a protocol audit and conf/published.yaml (no training: milliseconds)."""
from __future__ import annotations

import json
from pathlib import Path

import kaldiio
import numpy as np
import yaml

CLASSES = ["ang", "hap", "neu", "sad"]


def _vectors(d: Path, stem: str, vectors: dict[str, np.ndarray]) -> None:
    with kaldiio.WriteHelper(f"ark,scp:{d / (stem + '.ark')},{d / (stem + '.scp')}") as w:
        for utt in sorted(vectors):
            w(utt, np.asarray(vectors[utt], dtype=np.float32))


def decode_dir(d: Path, meta: dict, n: int, seed: int) -> Path:
    """Outputs better than chance: predictions the arg-max of the posteriors, as inference writes them."""
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    utts = [f"s{seed}_u{i:02d}" for i in range(n)]
    refs = {u: CLASSES[i % len(CLASSES)] for i, u in enumerate(utts)}
    post, emb = {}, {}
    for u in utts:
        logits = rng.normal(size=len(CLASSES))
        logits[CLASSES.index(refs[u])] += 1.5
        post[u] = np.exp(logits) / np.exp(logits).sum()
        emb[u] = rng.normal(size=6) + 2 * CLASSES.index(refs[u])
    (d / "classes").write_text("".join(c + "\n" for c in CLASSES))
    (d / "utt2emo").write_text("".join(f"{u} {refs[u]}\n" for u in utts))
    (d / "utt2pred").write_text("".join(f"{u} {CLASSES[int(np.argmax(post[u]))]}\n" for u in utts))
    _vectors(d, "posteriors", post)
    _vectors(d, "embeddings", emb)
    (d / "meta.json").write_text(json.dumps(meta))
    return d


def scored_recipe(recipe: Path, systems: list[tuple[str, str]], folds: int = 2, n: int = 12,
                  published: list[dict] | None = None) -> list[Path]:
    """recipe/run.sh and recipe/exp/<protocol>/<config>/fold<k>/decode_test for each (protocol, config),
    scored and aggregated; returns the exp config dirs."""
    from mer.bin import aggregate_scores, score

    recipe.mkdir(parents=True, exist_ok=True)
    (recipe / "run.sh").write_text("#!/usr/bin/env bash\n")
    dirs = []
    for i, (protocol, config) in enumerate(systems):
        exp_config = recipe / "exp" / protocol / config
        for k in range(1, folds + 1):
            meta = {"protocol": protocol, "config": config, "fold": k, "test_set": "test", "corpus": "toy",
                    "system": "memocmt", "aggregation": "mean", "modalities": "speech+text"}
            assert score.main([str(decode_dir(exp_config / f"fold{k}" / "decode_test", meta, n, 10 * i + k))]) == 0
        assert aggregate_scores.main([str(exp_config)]) == 0
        dirs.append(exp_config)
    if published is not None:
        (recipe / "conf").mkdir(exist_ok=True)
        (recipe / "conf" / "published.yaml").write_text(yaml.safe_dump(published, sort_keys=False))
    return dirs


def write_audit(recipe: Path, protocol: str) -> None:
    """Stage 1's audit of a speaker-independent two-fold protocol (mer.data.protocol_audit)."""
    from mer.data.datadir import DataDir
    from mer.data.protocol_audit import write_audits
    from mer.data.protocols import Fold

    dd = DataDir()
    for i, spk in enumerate(["s1", "s1", "s2", "s2", "s3", "s4"]):
        dd.add(f"u{i}", spk, text=f"sentence {i}", emo="ang")
    folds = [Fold(("u0", "u1"), ("u4",), ("u2", "u3")), Fold(("u2", "u3"), ("u4",), ("u5",))]
    write_audits(dd, folds, recipe / "data" / protocol, protocol, True)
