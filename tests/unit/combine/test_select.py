"""The select combiner chooses per fold on the validation decode only and reports the choice's test decode."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mer.combine import build_combiner
from mer.combine.base import FoldContext
from mer.scoring.decode_dir import load_decode_dir, write_decode_dir

CLASSES = ["ang", "hap", "neu"]
REFS = ["ang", "hap", "neu", "ang", "hap", "neu"]


def decode(exp: Path, system: str, fold: str, test_set: str, n_right: int) -> None:
    """A decode dir of `system` whose first `n_right` utterances are right, the others wrong."""
    utts = [f"{test_set}_{i}" for i in range(len(REFS))]
    preds = [r if i < n_right else CLASSES[(CLASSES.index(r) + 1) % 3] for i, r in enumerate(REFS)]
    post = np.full((len(utts), 3), 0.1, dtype=np.float32)
    for i, p in enumerate(preds):
        post[i, CLASSES.index(p)] = 0.8
    write_decode_dir(exp / system / fold / f"decode_{test_set}", utts, CLASSES, post, None,
                     meta={"system": system, "modalities": "audio", "aggregation": "mean"},
                     refs=dict(zip(utts, REFS)))


def run(tmp_path: Path, candidates: list[str], fold: str = "fold1", system_dirs: dict | None = None,
        **settings) -> Path:
    exp = tmp_path / "exp" / "loso"
    ctx = FoldContext(fold_dir=tmp_path / "data" / "loso" / fold, out_dir=exp / "select" / fold, exp_root=exp,
                      dumpdir=tmp_path / "dump", test_sets=["valid", "test"],
                      meta={"protocol": "loso", "config": "select", "fold": int(fold[4:]), "corpus": None},
                      system_dirs=system_dirs or {})
    build_combiner({"name": "select", "candidates": candidates, **settings}).run_fold(ctx)
    return ctx.out_dir


def test_picks_the_best_valid_score_though_another_is_better_on_test(tmp_path):
    exp = tmp_path / "exp" / "loso"
    decode(exp, "a", "fold1", "valid", 3)
    decode(exp, "a", "fold1", "test", 6)   # the best test decode: must not matter
    decode(exp, "b", "fold1", "valid", 5)
    decode(exp, "b", "fold1", "test", 1)
    out = run(tmp_path, ["a", "b"])
    selection = json.loads((out / "selection.json").read_text())
    assert selection["selected"] == "b"
    assert selection["selected_on"] == "valid"
    assert selection["valid_scores"]["a"] < selection["valid_scores"]["b"]
    test = load_decode_dir(out / "decode_test")
    assert sum(r == p for r, p in zip(test.refs, test.preds)) == 1   # b's test decode, copied
    assert test.meta["selected"] == "b" and test.meta["selected_on"] == "valid"
    assert test.meta["config"] == "select" and test.meta["system"] == "select"


def test_refit_chooses_on_the_candidates_and_reports_the_chosen_ones_twin(tmp_path):
    exp = tmp_path / "exp" / "loso"
    decode(exp, "a", "fold1", "valid", 3)
    decode(exp, "a", "fold1", "test", 2)
    decode(exp, "b", "fold1", "valid", 5)
    decode(exp, "b", "fold1", "test", 1)
    decode(exp, "a_tv", "fold1", "valid", 6)  # the twins learnt from valid: perfect there, never chosen by it
    decode(exp, "a_tv", "fold1", "test", 6)
    decode(exp, "b_tv", "fold1", "valid", 6)
    decode(exp, "b_tv", "fold1", "test", 4)
    dirs = {"a": "a", "b": "b", "a_refit": "a_tv", "b_refit": "b_tv"}
    out = run(tmp_path, ["*"], system_dirs=dirs, refit=True)
    selection = json.loads((out / "selection.json").read_text())
    assert selection["candidates"] == ["a", "b"]            # the twins are no candidates
    assert selection["selected"] == "b" and selection["reported_dir"] == "b_tv"
    test, valid = load_decode_dir(out / "decode_test"), load_decode_dir(out / "decode_valid")
    assert sum(r == p for r, p in zip(test.refs, test.preds)) == 4    # b's twin on test
    assert sum(r == p for r, p in zip(valid.refs, valid.preds)) == 5  # b itself on valid: what it was chosen by
    assert test.meta["refit"] is True
    with pytest.raises(ValueError, match=r"'b' \(fold1\) has no refit twin 'b_refit'.*--refit true"):
        run(tmp_path, ["a", "b"], system_dirs={"a": "a", "b": "b", "a_refit": "a_tv"}, refit=True)


def test_a_tie_goes_to_the_first_listed(tmp_path):
    exp = tmp_path / "exp" / "loso"
    for name, test_right in (("a", 2), ("b", 6)):
        decode(exp, name, "fold1", "valid", 4)
        decode(exp, name, "fold1", "test", test_right)
    assert json.loads((run(tmp_path, ["a", "b"]) / "selection.json").read_text())["selected"] == "a"
    assert json.loads((run(tmp_path, ["b", "a"], fold="fold1") / "selection.json").read_text())["selected"] == "b"


def test_a_missing_candidate_decode_is_named(tmp_path):
    exp = tmp_path / "exp" / "loso"
    decode(exp, "a", "fold1", "valid", 3)
    decode(exp, "a", "fold1", "test", 3)
    decode(exp, "probe_x", "fold1", "test", 3)  # decoded on test only
    with pytest.raises(ValueError, match=r"candidate 'probe_x' \(fold1\).*probe_x/fold1/decode_valid"):
        run(tmp_path, ["a", "probe_x"])
    assert not (exp / "select" / "fold1" / "decode_test").exists()


def test_settings_are_checked():
    with pytest.raises(ValueError, match="listed twice: a"):
        build_combiner({"name": "select", "candidates": ["a", "a"]})
    with pytest.raises(ValueError, match="metric must be one of"):
        build_combiner({"name": "select", "candidates": ["a"], "metric": "loss"})


def test_a_pattern_names_the_declared_systems_it_matches():
    select = build_combiner({"name": "select", "candidates": ["train_b", "probe_*", "train_?"]})
    assert select.expand(["train_a", "probe_x", "train_b", "probe_y"]) == ["train_b", "probe_x", "probe_y", "train_a"]
    with pytest.raises(ValueError, match=r"'probe_\*' matches none of the recipe's systems \(train_a\)"):
        select.expand(["train_a"])


@pytest.mark.parametrize("config", sorted(Path(__file__).parents[3].glob("egs/*/*/conf/combine/select_*.yaml")),
                         ids=lambda p: f"{p.parents[2].name}/{p.stem}")
def test_the_recipes_select_configs_build(config):
    from mer.bin.combine import load_settings

    assert build_combiner(load_settings(str(config), None, [])).metric == "ua"
