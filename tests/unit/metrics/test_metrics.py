"""The metric registry and the papers' own metrics (system B's one-vs-rest eqs. 4-6), checked against
figures worked out by hand from a confusion matrix, through the command users run."""
from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from mer.metrics import METRICS, default_columns, scalar_metrics, score, selectable_metrics
from mer.registry import Registry, RegistryError
from tests.helpers import REPO
from tests.unit.scoring.test_scoring import make_decode_dir

# A hand-made test set: 3 classes, 10 utterances. Rows = reference, columns = prediction:
#            ang hap neu
#   ang       3   1   0      P = 4
#   hap       1   2   1      P = 4
#   neu       0   0   2      P = 2
PAIRS = ([("ang", "ang")] * 3 + [("ang", "hap")] + [("hap", "ang")] + [("hap", "hap")] * 2 + [("hap", "neu")]
         + [("neu", "neu")] * 2)
CLASSES = ["ang", "hap", "neu"]

# One-vs-rest counts by hand (N = 10):
#   ang: TP 3, FP 1 (hap->ang), FN 1, TN 5  (P 4, N 6)
#   hap: TP 2, FP 1 (ang->hap), FN 2, TN 5  (P 4, N 6)
#   neu: TP 2, FP 1 (hap->neu), FN 0, TN 7  (P 2, N 8)
OVR_ACCURACY = (Fraction(8, 10) + Fraction(7, 10) + Fraction(9, 10)) / 3            # eq. 4: (TP + TN) / N
OVR_F1 = (Fraction(6, 6 + 1 + 1) + Fraction(4, 4 + 1 + 2) + Fraction(4, 4 + 1 + 0)) / 3  # eq. 5: 2TP / (2TP+FP+FN)
OVR_WA = (Fraction(3 * 6, 4) + 5) / 12, (Fraction(2 * 6, 4) + 5) / 12, (Fraction(2 * 8, 2) + 7) / 16  # eq. 6
OVR_WA = sum(OVR_WA) / 3                                                            # (TP*N/P + TN) / 2N


@pytest.mark.slow
def test_score_cli_gives_the_one_vs_rest_figures_worked_out_by_hand(tmp_path):
    refs = {f"u{i:02d}": r for i, (r, _) in enumerate(PAIRS)}
    preds = {f"u{i:02d}": p for i, (_, p) in enumerate(PAIRS)}
    d = make_decode_dir(tmp_path / "exp/resplit/train_x/fold1/decode_test", refs, preds, CLASSES)
    proc = subprocess.run([sys.executable, "-m", "mer.bin.score", str(d)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    s = json.loads((d / "scores.json").read_text())
    assert s["ovr_accuracy"] == pytest.approx(float(OVR_ACCURACY))   # 0.8
    assert s["ovr_f1"] == pytest.approx(float(OVR_F1))
    assert s["ovr_wa"] == pytest.approx(float(OVR_WA))
    assert s["wa"] == pytest.approx(0.7)
    assert s["ua"] == pytest.approx((3 / 4 + 2 / 4 + 2 / 2) / 3)
    # eq. 6 is not the mean recall its paper's next sentence calls it
    assert s["ovr_wa"] != pytest.approx(s["ua"])


def test_ovr_accuracy_is_the_papers_reading_of_six_way_accuracy():
    # C classes, single labels: every error is one FP and one FN, so mean OvR accuracy = 1 - 2 (1 - wa) / C.
    rng = np.random.default_rng(0)
    labels = [str(i) for i in range(6)]
    refs = rng.choice(labels, 500).tolist()
    preds = [r if rng.random() < 0.652 else rng.choice(labels) for r in refs]
    s = score(refs, preds, labels=labels)
    assert s["ovr_accuracy"] == pytest.approx(1 - 2 * (1 - s["wa"]) / 6)
    assert 1 - 2 * (1 - 0.652) / 6 == pytest.approx(0.884)  # the paper's 65.2 % six-way read as 88.4 %


def test_ovr_f1_equals_macro_f1_and_ovr_wa_per_class_balanced_accuracy():
    rng = np.random.default_rng(1)
    labels = ["a", "b", "c", "d"]
    refs = rng.choice(labels, 200).tolist()
    preds = rng.choice(labels, 200, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    s = score(refs, preds, labels=labels)
    assert s["ovr_f1"] == pytest.approx(f1_score(refs, preds, labels=labels, average="macro"))
    per_class = [balanced_accuracy_score([r == c for r in refs], [p == c for p in preds]) for c in labels]
    assert s["ovr_wa"] == pytest.approx(np.mean(per_class))


def test_a_class_absent_from_the_references_is_left_out_of_ovr_wa():
    s = score(["a", "a", "b"], ["a", "c", "b"], labels=["a", "b", "c"])
    # a: recall 1/2, specificity 1; b: recall 1, specificity 1; c has no positives: no value
    assert s["ovr_wa"] == pytest.approx(((0.5 + 1) / 2 + (1 + 1) / 2) / 2)


def test_every_consumer_reads_the_registry():
    from mer.combine.hierarchy import Hierarchy
    from mer.train import schema

    assert default_columns() == ("ua", "wa", "macro_f1", "weighted_f1")
    assert set(scalar_metrics()) == set(METRICS) >= {"ovr_accuracy", "ovr_f1", "ovr_wa"}
    for name in selectable_metrics():
        assert name in schema.METRICS.__args__
    assert "loss" in schema.METRICS.__args__ and "bogus" not in schema.METRICS.__args__
    Hierarchy(gate="g", emotion="e", select_metric="ovr_wa")  # accepted: a registered, selectable metric
    with pytest.raises(ValueError, match="select_metric must be one of"):
        Hierarchy(gate="g", emotion="e", select_metric="bogus")


def test_registry_scans_its_package_lists_entries_and_refuses_clashes(tmp_path, monkeypatch):
    pkg = tmp_path / "plugpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from mer.registry import Registry\nREG = Registry('widget', package='plugpkg')\n")
    (pkg / "round.py").write_text('from plugpkg import REG\n\n\n@REG.register("round")\nclass Round:\n'
                                  '    """A round widget."""\n')
    (pkg / "_private.py").write_text("raise RuntimeError('a module starting with _ is not imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import plugpkg

    assert list(plugpkg.REG) == ["round"] and plugpkg.REG.description("round") == "A round widget."
    with pytest.raises(RegistryError, match="widget must be one of round, got 'square'"):
        plugpkg.REG.get_entry("square")
    with pytest.raises(RegistryError, match="registered twice"):
        plugpkg.REG.register("round", type("Other", (), {}))
    reg = Registry("thing", check=lambda name, obj: None if callable(obj) else (_ for _ in ()).throw(
        RegistryError(f"{name}: not callable")))
    with pytest.raises(RegistryError, match="x: not callable"):
        reg.register("x", 3)


@pytest.mark.slow
def test_list_command_prints_every_kind():
    proc = subprocess.run([sys.executable, "-m", "mer.bin.list"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    kinds = [ln[:-1] for ln in proc.stdout.splitlines() if ln and not ln.startswith(" ")]
    assert {"model", "combiner", "metric", "feature", "corpus"} <= set(kinds)
    assert "  ovr_wa" in proc.stdout and "memocmt" in proc.stdout and "iemocap" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "mer.bin.list", "bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and "kind must be one of" in bad.stderr


def test_readme_metric_example_is_one_file(tmp_path, monkeypatch):
    """The README's new metric, written as the one file it says, is computed, aggregated and shown in
    RESULTS.md where a published number names it."""
    import re

    import yaml
    from sklearn.metrics import cohen_kappa_score

    from mer.bin import aggregate_scores, make_results
    from mer.bin import score as score_cli

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Adding a system"):readme.index("## Adding a corpus")]
    code = next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "mer/metrics/kappa.py" in b)
    monkeypatch.delitem(METRICS._entries, "kappa", raising=False)
    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))  # the README's metric leaves with the test
    exec(compile(code, "README:kappa", "exec"), {"__name__": "mer.metrics.kappa"})
    assert "kappa" in scalar_metrics() and "kappa" in selectable_metrics()

    refs = {f"u{i:02d}": r for i, (r, _) in enumerate(PAIRS)}
    preds = {f"u{i:02d}": p for i, (_, p) in enumerate(PAIRS)}
    recipe = tmp_path / "recipe"
    cfg = recipe / "exp/loso/train_x"
    meta = {"protocol": "loso", "config": "train_x", "fold": 1, "test_set": "test", "modalities": "audio+text"}
    make_decode_dir(cfg / "fold1/decode_test", refs, preds, CLASSES, meta=meta)
    assert score_cli.main([str(cfg / "fold1/decode_test")]) == 0
    want = cohen_kappa_score(list(refs.values()), list(preds.values()))
    assert json.loads((cfg / "fold1/decode_test/scores.json").read_text())["kappa"] == pytest.approx(want)
    assert aggregate_scores.main([str(cfg)]) == 0
    (recipe / "conf").mkdir()
    (recipe / "conf/published.yaml").write_text(yaml.safe_dump(
        [{"paper": "p", "protocol": "loso", "classes": 3, "modalities": "speech+text", "kappa": 50.0}]))
    assert make_results.main([str(recipe)]) == 0
    text = (recipe / "RESULTS.md").read_text()
    assert "| weighted-F1 | kappa |" in text and f"| {100 * want:.2f} |" in text


def test_every_published_number_says_what_it_may_be_compared_with():
    """Each recipe's conf/published.yaml loads, names its numbers by registered metrics, and states
    the protocol, classes and modalities RESULTS.md matches result rows on."""

    from mer.scoring.results_md import load_published

    from mer.data.corpora.registry import corpus_names, get_corpus

    files = sorted((REPO / "egs").glob("*/*/conf/published.yaml"))
    assert files
    checked = 0
    for path in files:
        corpus = path.parents[2].name
        runnable = set(get_corpus(corpus).protocols) if corpus in corpus_names() else set()
        for entry in load_published(path):
            if entry["protocol"] in runnable:  # a cited work's own protocol is never compared
                assert isinstance(entry.get("classes"), int), f"{path}: {entry.get('row')}: no classes"
                assert entry.get("modalities"), f"{path}: {entry.get('row')}: no modalities"
                checked += 1
    assert checked >= 40


def test_a_published_row_pairs_only_with_its_configuration():
    from mer.scoring.results_md import mismatch
    from mer.train.config import config_stem, experiment_tag

    tag = experiment_tag("conf/tuning/train_st_mf.yaml", ["train.epochs=3", "train.early_stopping_patience=6"])
    assert config_stem(tag) == "train_st_mf"
    row = {"protocol": "loso", "classes": 4, "modalities": "speech+text", "configs": ["train_st_mf"]}
    agg = {"protocol": "loso", "config": tag, "modalities": "speech+text",
           "pooled": {"confusion": {"labels": ["ang", "hap", "neu", "sad"]}}}
    assert mismatch(row, agg) is None
    assert mismatch(row, {**agg, "config": "train_st_mf_la_train.epochs3"}) == "config not train_st_mf"
    assert mismatch(row, {**agg, "modalities": "audio+text"}) is None  # audio is speech
    assert mismatch(row, {**agg, "protocol": "loso_heldout"}) == "protocol loso_heldout"
