"""The paper recipes, stages 1-6, on their corpus miniatures, as a user runs them (./run.sh), with tiny
random stand-ins of their hub models (tools/make_tiny_hub_models.py) under the real hub ids.

What is checked per recipe, for every config its run.sh lists: a decode dir per fold and test set,
scores.json that `python -m mer.bin.score` recomputes from utt2pred, a RESULTS.md row, the published
rows of conf/published.yaml in RESULTS.md, and stage 6's figures. The numbers themselves mean nothing
(random encoders, one epoch). ESD runs two folds (fold aggregation); the others fold 1.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import yaml

from mer.data.corpora.fakes.esd import write_fake as fake_esd
from mer.data.corpora.fakes.iemocap import write_fake as fake_iemocap
from mer.data.corpora.fakes.meld import write_fake as fake_meld
from mer.data.corpora.fakes.mosei import write_fake as fake_mosei
from mer.data.datadir import read_kv
from mer.train.config import experiment_tag
from tests.helpers.recipes import REPO, copy_recipe, run_recipe

TRAIN_ARGS = "train.epochs=1"

# recipe: (corpus miniature, db.sh variable, protocol, test sets as decoded, extra run.sh options)
RECIPES = {
    "iemocap/memocmt": (fake_iemocap, "IEMOCAP", "loso", ["test"], ["--folds", "1"]),
    "iemocap/hierarchical": (fake_iemocap, "IEMOCAP", "si", ["valid", "test"], ["--folds", "1"]),
    "iemocap/mf_la": (fake_iemocap, "IEMOCAP", "loso", ["test"], ["--folds", "1"]),
    "esd/memocmt": (fake_esd, "ESD", "lo2so", ["test"], ["--folds", "1 2"]),  # two folds: fold aggregation
    "meld/memocmt": (partial(fake_meld, media=True), "MELD", "official", ["valid", "test"], []),
    "meld/cnn_attn": (partial(fake_meld, media=True), "MELD", "resplit", ["test"], []),
    "mosei/cnn_attn": (fake_mosei, "MOSEI", "resplit", ["test"], []),
}


def listed_configs(recipe_dir: Path, block: str = "train_configs") -> list[str]:
    """The training configs run.sh runs by default: the first `block="..."` or `block=$(echo ...)`
    (train_configs) of run.sh, or of the local/run_*.sh it hands over to, as bash expands it."""
    for script in [recipe_dir / "run.sh", *sorted((recipe_dir / "local").glob("run_*.sh"))]:
        m = re.search(rf'^{block}=("[^"]*"|\$\(echo .*?\))$', script.read_text(), re.S | re.M)
        if m:
            out = subprocess.run(["bash", "-c", f"{block}={m.group(1)}; echo ${block}"], cwd=recipe_dir,
                                 capture_output=True, text=True, check=True).stdout
            return out.split()
    raise AssertionError(f"{recipe_dir}/run.sh: no {block} block")


def read_results_rows(results_md: Path) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in results_md.read_text().splitlines() if line.startswith("| ")]


def check_scores(decode_dirs: list[Path]) -> None:
    """stage 5's scores.json == what mer.bin.score recomputes now, and its WA == utt2pred's accuracy."""
    stored = {d: json.loads((d / "scores.json").read_text()) for d in decode_dirs}
    proc = subprocess.run([sys.executable, "-m", "mer.bin.score", *map(str, decode_dirs)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for d in decode_dirs:
        assert json.loads((d / "scores.json").read_text()) == stored[d], f"{d}: scores.json differs from a rescore"
        pred, ref = read_kv(d / "utt2pred"), read_kv(stored[d]["ref"])
        scored = [u for u in pred if ref[u] in (d / "classes").read_text().split()]
        accuracy = sum(pred[u] == ref[u] for u in scored) / len(scored)
        assert stored[d]["wa"] == pytest.approx(accuracy), d


def check_recipe_outputs(d: Path, protocol: str, test_sets: list[str], folds: list[str]) -> None:
    """Decode dirs, rescored scores, RESULTS.md rows and figures of every config run.sh lists."""
    assert folds, f"{d}/data/{protocol}: no folds"
    tags = [experiment_tag(str(d / c), [TRAIN_ARGS]) for c in listed_configs(d)]
    assert tags, f"{d}/run.sh lists no config"
    decode_dirs = []
    for tag in tags:
        for fold in folds:
            for test_set in test_sets:
                dd = d / "exp" / protocol / tag / fold / f"decode_{test_set}"
                assert (dd / "utt2pred").is_file() and (dd / "scores.json").is_file(), f"{dd}: not decoded/scored"
                decode_dirs.append(dd)
        plots = d / "exp" / protocol / tag / "plots"
        assert sorted(p.name for p in plots.glob("*_confusion.png")), f"{plots}: no figures"
    check_scores(decode_dirs)

    results = d / "RESULTS.md"
    rows = read_results_rows(results)
    for tag in tags:
        assert any(r[0] == tag and r[1] == protocol for r in rows), f"RESULTS.md: no row for {tag}"
    if len(folds) > 1:  # fold aggregation: mean ± std over every fold
        assert any(r[0] == tags[0] and r[2].split()[0] == str(len(folds)) and "±" in r[5] for r in rows)
    published = yaml.safe_load((d / "conf" / "published.yaml").read_text()) or []
    text = results.read_text()
    for row in published:
        assert f"| {row['row']} |" in text, f"RESULTS.md does not show published row {row['row']!r}"
    for test_set in test_sets:
        side = d / "exp" / protocol / f"plots_{test_set}"
        assert any((side / f"confusion_side_by_side{page}.png").is_file() for page in ("", "_p1")), side


@pytest.mark.slow
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_paper_recipe_stages_1_to_6(recipe, tmp_path, tiny_hub_home):
    fake, variable, protocol, test_sets, options = RECIPES[recipe]
    corpus = fake(tmp_path / "corpus")
    d = copy_recipe(tmp_path, recipe)
    start = time.monotonic()
    run_recipe(d, *options, "--train_args", TRAIN_ARGS, "--train_nj", "2", timeout=1800,
               env={variable: str(corpus), "HF_HOME": str(tiny_hub_home), "HF_HUB_OFFLINE": "1",
                    "OMP_NUM_THREADS": "1"})
    print(f"{recipe}: stages 1-6 in {time.monotonic() - start:.0f} s")

    folds = ([f"fold{k}" for k in options[options.index("--folds") + 1].split()] if "--folds" in options
             else ["fold1"])  # the other protocols have one split
    check_recipe_outputs(d, protocol, test_sets, folds)
    if recipe == "iemocap/mf_la":  # the reference-text variants, trained and tested on the reference
        # transcripts, are tested on the ASR hypotheses too (test set test_asr)
        for config in listed_configs(d, "reftext_configs"):
            tag = experiment_tag(str(d / config), [TRAIN_ARGS])
            for test_set in ("test", "test_asr"):
                dd = d / "exp" / protocol / tag / "fold1" / f"decode_{test_set}"
                assert (dd / "scores.json").is_file(), f"{dd}: not decoded/scored"
        assert "## Test set `test_asr`" in (d / "RESULTS.md").read_text()
    shutil.rmtree(d / "dump", ignore_errors=True)  # the largest part; tmp_path keeps the rest
