"""Metrics, mer.bin.score, fold aggregation and RESULTS.md generation."""
from __future__ import annotations

import json
import re
import statistics
from fractions import Fraction
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import yaml
from sklearn.metrics import balanced_accuracy_score

from mer.bin import aggregate_scores, make_results, score as score_cli
from mer.scoring.aggregate import aggregate
from mer.scoring.decode_dir import ScoringError
from mer.metrics import score

CLASSES = ["ang", "hap", "neu", "sad"]


# ---------------------------------------------------------------- helpers

def write_vectors(d: Path, stem: str, vectors: dict[str, np.ndarray]) -> None:
    with kaldiio.WriteHelper(f"ark,scp:{d / (stem + '.ark')},{d / (stem + '.scp')}") as w:
        for utt in sorted(vectors):
            w(utt, np.asarray(vectors[utt], dtype=np.float32))


def make_decode_dir(d: Path, refs: dict[str, str], preds: dict[str, str], classes=CLASSES, posteriors=None,
                    embeddings=None, meta=None, ref_in_dir=True) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "classes").write_text("".join(c + "\n" for c in classes))
    (d / "utt2pred").write_text("".join(f"{u} {preds[u]}\n" for u in sorted(preds)))
    if ref_in_dir:
        (d / "utt2emo").write_text("".join(f"{u} {refs[u]}\n" for u in sorted(refs)))
    if posteriors is not None:
        write_vectors(d, "posteriors", posteriors)
    if embeddings is not None:
        write_vectors(d, "embeddings", embeddings)
    if meta is not None:
        (d / "meta.json").write_text(json.dumps(meta))
    return d


def random_decode_dir(d: Path, n=40, seed=0, classes=CLASSES, meta=None) -> Path:
    """Seeded random outputs; predictions are the arg-max of the posteriors, as inference writes them."""
    rng = np.random.default_rng(seed)
    utts = [f"utt{seed}_{i:03d}" for i in range(n)]
    refs = {u: classes[rng.integers(len(classes))] for u in utts}
    post = {}
    for u in utts:
        logits = rng.normal(size=len(classes))
        logits[classes.index(refs[u])] += 1.5  # better than chance, not perfect
        post[u] = np.exp(logits) / np.exp(logits).sum()
    preds = {u: classes[int(np.argmax(post[u]))] for u in utts}
    emb = {u: rng.normal(size=8) for u in utts}
    return make_decode_dir(d, refs, preds, classes, post, emb, meta)


def auc_by_counting(pos_scores, neg_scores) -> float:
    """AUC as P(positive scores above negative), ties half: independent of sklearn."""
    wins = sum((p > q) + 0.5 * (p == q) for p in pos_scores for q in neg_scores)
    return wins / (len(pos_scores) * len(neg_scores))


# ---------------------------------------------------------------- metrics on a hand example

# refs: 6 a, 2 b, 2 c (imbalanced); class c is never predicted; class d never occurs.
HAND_REFS = ["a"] * 6 + ["b"] * 2 + ["c"] * 2
HAND_PREDS = ["a", "a", "a", "a", "a", "b"] + ["b", "a"] + ["a", "a"]
HAND_LABELS = ["a", "b", "c", "d"]


def test_hand_example_scalar_metrics():
    s = score(HAND_REFS, HAND_PREDS, labels=HAND_LABELS)
    # By hand: correct = 5 (a) + 1 (b) + 0 (c) of 10.
    assert s["num_utts"] == 10
    assert s["wa"] == pytest.approx(0.6)
    # Recalls a 5/6, b 1/2, c 0; d has no references and is not averaged.
    assert s["ua"] == pytest.approx(float((Fraction(5, 6) + Fraction(1, 2) + 0) / 3))
    assert s["ua"] != pytest.approx(s["wa"])
    assert s["ua"] == pytest.approx(balanced_accuracy_score(HAND_REFS, HAND_PREDS))
    # Precisions: a 5/8 (8 predicted a), b 1/2, c 0 (never predicted -> zero_division 0).
    f1_a = 2 * Fraction(5, 8) * Fraction(5, 6) / (Fraction(5, 8) + Fraction(5, 6))
    assert f1_a == Fraction(5, 7)
    f1_b = Fraction(1, 2)
    assert s["macro_f1"] == pytest.approx(float((f1_a + f1_b + 0) / 3))
    assert s["weighted_f1"] == pytest.approx(float((6 * f1_a + 2 * f1_b) / 10))
    assert s["weighted_precision"] == pytest.approx(float((6 * Fraction(5, 8) + 2 * Fraction(1, 2)) / 10))
    assert s["weighted_recall"] == pytest.approx(s["wa"])


def test_hand_example_per_class_and_confusion():
    s = score(HAND_REFS, HAND_PREDS, labels=HAND_LABELS)
    assert s["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert s["per_class"]["a"]["precision"] == pytest.approx(5 / 8)
    assert s["per_class"]["a"]["recall"] == pytest.approx(5 / 6)
    assert s["per_class"]["d"]["support"] == 0
    assert s["confusion"]["labels"] == HAND_LABELS
    # Rows are references.
    assert s["confusion"]["matrix"] == [[5, 1, 0, 0], [1, 1, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0]]
    json.dumps(s)  # plain Python types only


def test_auc_per_class_and_null_for_absent_class():
    rng = np.random.default_rng(3)
    post = rng.dirichlet(np.ones(4), size=len(HAND_REFS))
    s = score(HAND_REFS, HAND_PREDS, post, labels=HAND_LABELS)
    for i, lab in enumerate("abc"):
        pos = [post[k, i] for k, r in enumerate(HAND_REFS) if r == lab]
        neg = [post[k, i] for k, r in enumerate(HAND_REFS) if r != lab]
        assert s["auc"][lab] == pytest.approx(auc_by_counting(pos, neg))
    assert s["auc"]["d"] is None
    assert "no reference" in s["auc_notes"]["d"]
    assert set(s["auc_notes"]) == {"d"}


def test_auc_without_posteriors_and_without_negatives():
    s = score(["a", "a"], ["a", "b"], labels=["a", "b"])
    assert s["auc"] == {"a": None, "b": None}
    assert "no posteriors" in s["auc_notes"]["a"]
    s = score(["a", "a"], ["a", "b"], np.array([[0.9, 0.1], [0.2, 0.8]]), labels=["a", "b"])
    assert s["auc"]["a"] is None and "no negatives" in s["auc_notes"]["a"]


def test_score_rejects_unknown_labels_and_bad_shapes():
    with pytest.raises(ValueError, match="'x'"):
        score(["a", "x"], ["a", "a"], labels=["a", "b"])
    with pytest.raises(ValueError, match="predicted"):
        score(["a", "b"], ["a", "y"], labels=["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        score(["a", "b"], ["a", "b"], np.zeros((2, 3)), labels=["a", "b"])
    with pytest.raises(ValueError, match="2 references but 1"):
        score(["a", "b"], ["a"], labels=["a", "b"])


# ---------------------------------------------------------------- mer.bin.score

def read_pairs(path: Path) -> dict[str, str]:
    return dict(line.split() for line in path.read_text().splitlines())


def test_score_cli_recomputes_from_files(tmp_path):
    meta = {"protocol": "loso", "config": "memocmt_min", "fold": 2, "test_set": "test", "corpus": "iemocap",
            "system": "memocmt", "aggregation": "min", "modalities": "audio+text"}
    d = random_decode_dir(tmp_path / "decode_test", meta=meta)
    assert score_cli.main([str(d)]) == 0
    s = json.loads((d / "scores.json").read_text())
    for k, v in meta.items():
        assert s[k] == v
    # Independent recomputation from the text files.
    ref, hyp = read_pairs(d / "utt2emo"), read_pairs(d / "utt2pred")
    assert s["num_utts"] == 40
    assert s["wa"] == pytest.approx(sum(ref[u] == hyp[u] for u in ref) / len(ref))
    recalls = [sum(ref[u] == hyp[u] == c for u in ref) / sum(ref[u] == c for u in ref)
               for c in CLASSES if any(ref[u] == c for u in ref)]
    assert s["ua"] == pytest.approx(sum(recalls) / len(recalls))
    for i, r in enumerate(CLASSES):
        for j, p in enumerate(CLASSES):
            assert s["confusion"]["matrix"][i][j] == sum(ref[u] == r and hyp[u] == p for u in ref)
    post = {u: v for u, v in kaldiio.load_scp(str(d / "posteriors.scp")).items()}
    for i, c in enumerate(CLASSES):
        pos = [post[u][i] for u in ref if ref[u] == c]
        neg = [post[u][i] for u in ref if ref[u] != c]
        assert s["auc"][c] == pytest.approx(auc_by_counting(pos, neg), abs=1e-6)
    for k in ("wa", "ua", "macro_f1", "weighted_f1", "weighted_precision", "weighted_recall"):
        assert 0.0 <= s[k] <= 1.0


def test_score_cli_meta_from_path_and_external_ref(tmp_path):
    d = random_decode_dir(tmp_path / "exp" / "random" / "faithful" / "fold1" / "decode_dev", seed=1)
    ref = tmp_path / "data_utt2emo"
    (d / "utt2emo").rename(ref)
    assert score_cli.main([str(d), "--ref", str(ref)]) == 0
    s = json.loads((d / "scores.json").read_text())
    assert (s["protocol"], s["config"], s["fold"], s["test_set"]) == ("random", "faithful", 1, "dev")
    assert s["ref"] == str(ref.resolve())


def test_score_cli_names_mismatched_utterances(tmp_path, capsys):
    d = random_decode_dir(tmp_path / "exp/loso/c/fold1/decode_test")
    lines = (d / "utt2emo").read_text().splitlines()
    dropped = [ln.split()[0] for ln in lines[:3]]
    (d / "utt2emo").write_text("\n".join(lines[3:] + ["extra_utt hap"]) + "\n")
    assert score_cli.main([str(d)]) == 1
    err = capsys.readouterr().err
    assert "3 utterance(s) in" in err and "missing from" in err
    assert dropped[0] in err and "extra_utt" in err
    assert "40 vs 38" in err
    assert not (d / "scores.json").exists()


def test_score_cli_unknown_label_names_file_and_utt(tmp_path, capsys):
    d = random_decode_dir(tmp_path / "exp/loso/c/fold1/decode_test")
    lines = (d / "utt2pred").read_text().splitlines()
    utt = lines[5].split()[0]
    lines[5] = f"{utt} fru"
    (d / "utt2pred").write_text("\n".join(lines) + "\n")
    assert score_cli.main([str(d)]) == 1
    err = capsys.readouterr().err
    assert "utt2pred" in err and utt in err and "'fru'" in err and "classes" in err


def test_score_cli_posteriors_missing_utt_or_wrong_dim(tmp_path, capsys):
    d = random_decode_dir(tmp_path / "exp/loso/c/fold1/decode_test")
    scp = (d / "posteriors.scp").read_text().splitlines()
    (d / "posteriors.scp").write_text("\n".join(scp[1:]) + "\n")
    assert score_cli.main([str(d)]) == 1
    assert "posteriors.scp" in capsys.readouterr().err
    (d / "classes").write_text("ang\nhap\nneu\nsad\nfru\n")
    (d / "posteriors.scp").write_text("\n".join(scp) + "\n")
    assert score_cli.main([str(d)]) == 1
    assert "expected 5" in capsys.readouterr().err


# ---------------------------------------------------------------- aggregation

FOLDS = {  # fold: (refs, preds); sizes 2, 2, 6 make pooled differ from the fold mean
    1: (["a", "b"], ["a", "b"]),                             # wa 1.0
    2: (["a", "b"], ["a", "a"]),                             # wa 0.5
    3: (["a", "a", "a", "b", "b", "b"], ["b"] * 6),          # wa 0.5
}


def build_exp_config(root: Path, folds=FOLDS, protocol="loso", config="cfg", aggregation="min", score_them=True):
    rng = np.random.default_rng(7)
    for k, (refs, preds) in folds.items():
        utts = [f"f{k}_u{i}" for i in range(len(refs))]
        post = {u: rng.dirichlet([1, 1]) for u in utts}
        meta = {"protocol": protocol, "config": config, "fold": k, "test_set": "test", "corpus": "toy",
                "system": "memocmt", "aggregation": aggregation, "modalities": "audio+text"}
        d = make_decode_dir(root / protocol / config / f"fold{k}" / "decode_test", dict(zip(utts, refs)),
                            dict(zip(utts, preds)), ["a", "b"], post, None, meta)
        if score_them:
            assert score_cli.main([str(d)]) == 0
    return root / protocol / config


def test_aggregate_mean_std_pooled(tmp_path):
    cfg = build_exp_config(tmp_path / "exp")
    assert aggregate_scores.main([str(cfg)]) == 0
    agg = json.loads((cfg / "scores_test.json").read_text())
    assert list(agg["folds"]) == ["fold1", "fold2", "fold3"]
    assert [agg["folds"][f]["wa"] for f in agg["folds"]] == [1.0, 0.5, 0.5]
    assert agg["mean"]["wa"] == pytest.approx(2 / 3)
    assert agg["std"]["wa"] == pytest.approx(statistics.stdev([1.0, 0.5, 0.5]))
    assert agg["std_ddof"] == 1
    # Pooled: 6 correct of 10, not the mean of fold accuracies.
    assert agg["pooled"]["wa"] == pytest.approx(0.6)
    assert agg["pooled"]["wa"] != pytest.approx(agg["mean"]["wa"])
    assert agg["pooled"]["num_utts"] == 10
    # Pooled confusion = sum of fold confusions: ref a -> 1+1+0 a, 0+0+3 b; ref b -> 0+1+0 a, 1+0+3 b.
    assert agg["pooled"]["confusion"]["matrix"] == [[2, 3], [1, 4]]
    assert set(agg["pooled"]["auc"]) == {"a", "b"} and agg["pooled"]["auc"]["a"] is not None
    assert (agg["protocol"], agg["config"], agg["num_folds"], agg["aggregation"]) == ("loso", "cfg", 3, "min")
    assert agg["complete"] is True and agg["missing_folds"] == []
    assert agg["corpus"] == "toy" and agg["system"] == "memocmt" and agg["modalities"] == "audio+text"


def test_aggregate_missing_folds_and_single_fold(tmp_path):
    cfg = build_exp_config(tmp_path / "exp")
    agg = aggregate(cfg, "test", expected_folds=5)
    assert agg["complete"] is False and agg["missing_folds"] == ["fold4", "fold5"]
    assert agg["num_folds"] == 3
    # A fold dir without scores counts as missing even without --expected-folds.
    (cfg / "fold2" / "decode_test" / "scores.json").unlink()
    agg = aggregate(cfg, "test")
    assert agg["missing_folds"] == ["fold2"] and agg["num_folds"] == 2
    one = build_exp_config(tmp_path / "exp1", folds={1: FOLDS[1]})
    agg = aggregate(one, "test")
    assert agg["std"]["wa"] is None and agg["mean"]["wa"] == 1.0 and agg["complete"] is True


def test_aggregate_detects_stale_scores_and_meta_disagreement(tmp_path, capsys):
    cfg = build_exp_config(tmp_path / "exp")
    pred = cfg / "fold1" / "decode_test" / "utt2pred"  # wa 1.0 -> 0.5
    pred.write_text(pred.read_text().replace(" a\n", " b\n"))
    with pytest.raises(ScoringError, match="stale"):
        aggregate(cfg, "test")
    cfg2 = build_exp_config(tmp_path / "exp2")
    meta = cfg2 / "fold3" / "decode_test" / "meta.json"
    meta.write_text(meta.read_text().replace('"min"', '"max"'))
    assert score_cli.main([str(meta.parent)]) == 0
    assert aggregate_scores.main([str(cfg2)]) == 1
    err = capsys.readouterr().err
    assert "aggregation" in err and "fold3=max" in err


# ---------------------------------------------------------------- RESULTS.md

def test_make_results_one_row_per_config_with_protocol(tmp_path):
    recipe = tmp_path / "egs" / "toy" / "memocmt"
    exp = recipe / "exp"
    for protocol, config in [("loso", "zeta"), ("loso", "alpha"), ("random", "alpha"), ("loso", "mid")]:
        cfg = build_exp_config(exp, protocol=protocol, config=config)
        assert aggregate_scores.main([str(cfg)]) == 0
    (recipe / "conf").mkdir()
    (recipe / "conf" / "published.yaml").write_text(yaml.safe_dump([
        {"paper": "memocmt", "table": "Table 1", "row": "min aggregation", "protocol": "random", "classes": 2,
         "modalities": "speech+text", "ua": 81.33, "wa": 81.85},
        {"paper": "other", "row": "six-way", "protocol": "loso", "classes": 6, "modalities": "speech+text",
         "ovr_accuracy": 88.4},
        {"paper": "other", "row": "text", "protocol": "loso", "classes": 2, "modalities": "text", "ua": 70.0},
        {"paper": "other", "row": "unstated", "protocol": "loso", "ua": 70.0}], sort_keys=False))
    assert make_results.main([str(recipe)]) == 0
    text = (recipe / "RESULTS.md").read_text()
    assert "git commit:" in text and "python " in text and "torch " in text and "machine:" in text
    assert "python -m mer.bin.make_results" in text

    section = text.split("## Test set `test`")[1]
    main_table = section.split("Pooled over folds")[0]
    rows = [ln for ln in main_table.splitlines() if ln.startswith("| ") and not ln.startswith("| config")]
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
    assert [(c[0], c[1]) for c in cells] == [("alpha", "loso"), ("alpha", "random"), ("mid", "loso"),
                                            ("zeta", "loso")]
    # mean ± sample std in %, 2 decimals: WA folds 1.0, 0.5, 0.5.
    wa = f"{100 * 2 / 3:.2f} ± {100 * statistics.stdev([1.0, 0.5, 0.5]):.2f}"
    assert all(c[6] == wa for c in cells)
    # a metric a published number names gets its column, after the registry's default ones
    header = [c.strip() for c in main_table.splitlines()[4].strip("|").split("|")]
    assert header[5:] == ["UA", "WA", "macro-F1", "weighted-F1", "OvR-Acc"]
    # OvR accuracy of two classes equals accuracy
    assert all(c[9] == wa for c in cells)
    assert all(c[2] == "3" and c[3] == "audio+text" and c[4] == "min" for c in cells)
    pooled = section.split("Pooled over folds")[1].split("Published")[0]
    pooled_rows = [ln for ln in pooled.splitlines() if ln.startswith("| ") and not ln.startswith("| config")]
    assert len(pooled_rows) == 4 and all("| 60.00 |" in r for r in pooled_rows)
    pub = section.split("Published")[1]
    pub_rows = {r.split("|")[3].strip(): [c.strip() for c in r.strip().strip("|").split("|")]
                for r in pub.splitlines() if r.startswith("| ") and not r.startswith("| published")}
    # UA comes first; each published number is set beside only the rows it may be compared with
    assert pub_rows["min aggregation"][:8] == ["memocmt", "Table 1", "min aggregation", "random", "2",
                                               "speech+text", "81.33", "81.85"]
    assert pub_rows["min aggregation"][-1] == "alpha"  # protocol random; audio = speech
    assert pub_rows["six-way"][-1] == "none: runs here have 2 classes"
    assert pub_rows["text"][-1] == "none: runs here have modalities audio+text"
    assert pub_rows["unstated"][-1].startswith("not stated")


def test_make_results_marks_incomplete_and_rejects_bad_published(tmp_path, capsys):
    recipe = tmp_path / "r"
    cfg = build_exp_config(recipe / "exp")
    assert aggregate_scores.main([str(cfg), "--expected-folds", "5"]) == 0
    assert make_results.main([str(recipe), "--out", "R.md"]) == 0
    assert "3 of 5 (missing fold4 fold5)" in (recipe / "R.md").read_text()
    (recipe / "pub.yaml").write_text("- {paper: x, ua: 50}\n")
    assert make_results.main([str(recipe), "--published", "pub.yaml"]) == 1
    assert "entry 1 lacks protocol" in capsys.readouterr().err
    (recipe / "pub.yaml").write_text("- {paper: x, protocol: loso, accuracy: 50}\n")
    assert make_results.main([str(recipe), "--published", "pub.yaml"]) == 1
    assert "unknown key(s) accuracy" in capsys.readouterr().err


def test_make_results_keeps_the_file_when_only_its_provenance_would_change(tmp_path, capsys):
    recipe = tmp_path / "egs" / "toy" / "memocmt"
    cfg = build_exp_config(recipe / "exp")
    assert aggregate_scores.main([str(cfg)]) == 0
    assert make_results.main([str(recipe)]) == 0
    path = recipe / "RESULTS.md"
    # as committed by an earlier run elsewhere: another date, commit, versions and machine
    earlier = re.sub(r"(?m)^- (date|git commit|machine): .*$", r"- \1: earlier", path.read_text())
    earlier = re.sub(r"(?m)^- python .*$", "- python 0.0, torch 0.0", earlier)
    path.write_text(earlier)
    capsys.readouterr()
    assert make_results.main([str(recipe)]) == 0
    assert path.read_text() == earlier
    assert "unchanged" in capsys.readouterr().out
    # another command is not provenance: the file says which command made it
    assert make_results.main([str(recipe), "--exp", "exp"]) == 0
    assert "--exp exp" in path.read_text() and "- date: earlier" not in path.read_text()
    # a result that changes rewrites the whole file, header included
    path.write_text(earlier)
    pred = cfg / "fold1" / "decode_test" / "utt2pred"
    pred.write_text(pred.read_text().replace(" a\n", " b\n"))
    assert score_cli.main([str(pred.parent)]) == 0 and aggregate_scores.main([str(cfg)]) == 0
    assert make_results.main([str(recipe)]) == 0
    assert path.read_text() != earlier and "- date: earlier" not in path.read_text()


def test_make_results_shows_the_protocol_audit_and_marks_transductive_rows(tmp_path):
    from mer.data.datadir import DataDir
    from mer.data.protocol_audit import write_audits
    from mer.data.protocols import Fold

    recipe = tmp_path / "egs" / "toy" / "memocmt"
    plain = build_exp_config(recipe / "exp", config="plain")
    probe = build_exp_config(recipe / "exp", config="probe_cmvn")
    trained = build_exp_config(recipe / "exp", config="train_cmvn")
    build_exp_config(recipe / "exp", protocol="random", config="plain")
    for d in recipe.glob("exp/*/*"):
        assert aggregate_scores.main([str(d)]) == 0
    # per-speaker CMVN: a probe records it in its decode dirs, a trained system in its config
    meta = probe / "fold1" / "decode_test" / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "cmvn": "speaker"}))
    (trained / "fold2" / "config.yaml").write_text(yaml.safe_dump({"inputs": {"audio": {"type": "dump",
                                                                                         "cmvn": "speaker"}}}))
    (plain / "fold1" / "config.yaml").write_text(yaml.safe_dump({"inputs": {"audio": {"cmvn": "utterance"}}}))
    # stage 1's audit of loso: two folds, each speaker-independent; one test sentence of four in train
    dd = DataDir()
    for i, (spk, text) in enumerate([("s1", "Hi!"), ("s1", "hm"), ("s2", "hi"), ("s2", "a"), ("s3", "b"),
                                     ("s3", "c"), ("s4", "d")]):
        dd.add(f"u{i}", spk, text=text, emo="a")
    folds = [Fold(("u0", "u1"), ("u4",), ("u2", "u3")), Fold(("u2", "u3"), ("u5",), ("u6",))]
    write_audits(dd, folds, recipe / "data" / "loso", "loso", True)
    assert make_results.main([str(recipe)]) == 0
    text = (recipe / "RESULTS.md").read_text()
    audit = text.split("**Protocol audit**")[1].split("## Test set")[0]
    assert ("- `loso`: 2 fold(s), speaker-independent: shared speakers 0 in every fold; "
            "test transcripts also in train 33.3 %; valid is not test") in audit
    assert "- `random`: no audit (no data/random/fold*/audit.json: rerun stage 1 to write it)" in audit
    table = text.split("## Test set `test`")[1].split("Pooled over folds")[0]
    rows = {r.split("|")[1].strip(): r.split("|")[2].strip() for r in table.splitlines() if r.startswith("| ")}
    assert set(rows) == {"config", "plain", "probe_cmvn (transductive)", "train_cmvn (transductive)"}
    assert "(transductive): per-speaker CMVN" in table
