"""A system run with several seeds, taken as one result: mean ± std over every (fold, seed) pair,
and RESULTS.md's row and notes for it and for rows chosen by a select combiner."""
from __future__ import annotations

import json
import statistics

import pytest

from mer.bin import aggregate_scores, make_results
from tests.unit.scoring.test_scoring import build_exp_config

SEED2 = {1: (["a", "b"], ["b", "b"]), 2: (["a", "b"], ["a", "b"]), 3: (["a", "a", "a", "b", "b", "b"], ["a"] * 6)}


def test_two_seeds_make_one_row_over_folds_and_seeds(tmp_path):
    recipe = tmp_path / "egs" / "toy" / "memocmt"
    exp = recipe / "exp"
    runs = [build_exp_config(exp, config="select_seed1"), build_exp_config(exp, folds=SEED2, config="select_seed2")]
    (runs[0] / "selection.json").write_text(json.dumps({"selected_on": "valid", "metric": "ua",
                                                        "candidates": ["train_x", "probe_*"]}))
    groups = tmp_path / "groups"
    groups.write_text("\t".join(map(str, [exp / "loso/select_seeds", *runs])) + "\n")
    assert aggregate_scores.main(["--over-seeds", str(groups), "--expected-folds", "3"]) == 0
    agg = json.loads((exp / "loso/select_seeds/scores_test.json").read_text())
    assert agg["seeds"] == ["select_seed1", "select_seed2"] and agg["config"] == "select_seeds"
    was = [1.0, 0.5, 0.5, 0.5, 1.0, 0.5]  # seed 1's folds (FOLDS), then seed 2's
    assert [agg["folds"][k]["wa"] for k in sorted(agg["folds"])] == was
    assert agg["mean"]["wa"] == pytest.approx(statistics.mean(was))
    assert agg["std"]["wa"] == pytest.approx(statistics.stdev(was))
    assert agg["pooled"]["num_utts"] == 20 and agg["pooled"]["wa"] == pytest.approx(12 / 20)  # 6 + 6 right
    assert agg["complete"] and agg["protocol"] == "loso"

    assert aggregate_scores.main([str(r) for r in runs]) == 0
    assert make_results.main([str(recipe)]) == 0
    results = (recipe / "RESULTS.md").read_text()
    assert "| select_seeds | loso | 3 x 2 seeds |" in results
    assert "| select_seed1 | loso | 3 |" in results
    note = next(ln for ln in results.splitlines() if ln.startswith("`select_seed1`, `select_seeds`:"))
    assert "validation speakers only (`valid`, by ua" in note and "(select over: train_x, probe_*)" in note
    assert "`select_seed2`" not in note  # it has no selection.json of its own here


def test_seed_groups_need_two_runs_and_agreeing_meta(tmp_path, capsys):
    exp = tmp_path / "exp"
    one = build_exp_config(exp, config="a_seed1")
    other = build_exp_config(exp, config="a_seed2", aggregation="mean")
    groups = tmp_path / "groups"
    groups.write_text(f"{exp / 'loso/a_seeds'}\t{one}\n")
    assert aggregate_scores.main(["--over-seeds", str(groups)]) == 1
    assert "needs two or more runs" in capsys.readouterr().err
    groups.write_text(f"{exp / 'loso/a_seeds'}\t{one}\t{other}\n")
    assert aggregate_scores.main(["--over-seeds", str(groups)]) == 1
    assert "disagree on 'aggregation'" in capsys.readouterr().err


def test_the_note_says_when_a_table_is_the_set_the_rows_were_chosen_on():
    from mer.scoring.selection_notes import selection_notes

    rows = [{"config": "select_all", "selection": {"selected_on": "valid", "metric": "ua", "candidates": ["a"]}},
            {"config": "train_a"}]
    [test] = selection_notes(rows, "test")
    [valid] = selection_notes(rows, "valid")
    assert test.startswith("`select_all`: settings chosen") and "optimistic" not in test
    assert "the scores they were chosen by (optimistic)" in valid
