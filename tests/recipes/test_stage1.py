"""Stage 1 of the corpus recipes on faithful miniatures: data/all, folds, exclusions, db.sh."""
from __future__ import annotations

import re
from pathlib import Path

from mer.data.corpora import emodb
from mer.data.corpora.fakes.esd import write_fake as build_esd
from mer.data.corpora.fakes.iemocap import write_fake as build_iemocap
from mer.data.corpora.registry import get_corpus
from mer.data.datadir import DataDir
from mer.data.protocol_audit import load_audits
from mer.data.validate import validate_data_dir
from tests.helpers.recipes import copy_recipe, run_recipe, setup_recipe


def speakers(d: Path) -> set[str]:
    return set(DataDir.load(d).utt2spk.values())


def test_iemocap_recipe_stage1_loso_and_random(tmp_path):
    corpus = build_iemocap(tmp_path / "corpus")
    recipe = copy_recipe(tmp_path, "iemocap/memocmt")
    proc = run_recipe(recipe, "--stop_stage", "1", env={"IEMOCAP": str(corpus)})
    assert validate_data_dir(recipe / "data/all") == []
    # the audit beside every fold, and on the console: no speaker in two parts
    audits = load_audits(recipe / "data/loso")
    assert len(audits) == 5 and all(not any(a["shared"]["speakers"].values()) for a in audits.values())
    assert all(f"audit {k}: shared speakers 0" in proc.stdout + proc.stderr for k in audits)
    folds = sorted((recipe / "data/loso").glob("fold*"))
    assert [f.name for f in folds] == [f"fold{k}" for k in range(1, 6)]
    tested = []
    for f in folds:
        test, train, valid = (speakers(f / p) for p in ("test", "train", "valid"))
        assert not test & train and not valid & train and not valid & test
        assert {s[:5] for s in test} == {f"Ses0{f.name[-1]}"}  # fold k tests session k
        tested += DataDir.load(f / "test").utts
    assert sorted(tested) == DataDir.load(recipe / "data/all").utts
    excluded = (recipe / "data/all/excluded").read_text()
    assert "fru" in excluded or "xxx" in excluded  # dropped classes are reported, not silent
    # the published code's protocol, by name, and a re-run of stage 1 keeps finished work
    run_recipe(recipe, "--stop_stage", "1", "--protocol", "random", env={"IEMOCAP": str(corpus)})
    assert (recipe / "data/random/fold1/train/utt2spk").is_file()
    assert "SPEAKER-DEPENDENT" in (recipe / "data/random/README").read_text()
    assert load_audits(recipe / "data/random")["fold1"]["shared"]["speakers"]["train-test"]


def test_esd_recipe_stage1_lo2so(tmp_path):
    corpus = build_esd(tmp_path / "corpus")
    recipe = copy_recipe(tmp_path, "esd/memocmt")
    run_recipe(recipe, "--stop_stage", "1", env={"ESD": str(corpus)})
    for f in sorted((recipe / "data/lo2so").glob("fold*")):
        assert not speakers(f / "test") & speakers(f / "train")
    # every speaker reads the same sentences: the audit shows the text a text model has seen
    texts = [a["text_in_train"] for a in load_audits(recipe / "data/lo2so").values()]
    assert len(texts) == 5 and all(t["also_in_train"] > 0 for t in texts)


def test_a_protocol_made_to_leak_stops_stage1_naming_the_speaker(leaky_corpus, tmp_path):
    name, site = leaky_corpus
    recipe, env, _ = setup_recipe(tmp_path, name, site)
    env[get_corpus(name).db_variable] = str(emodb.write_fake(tmp_path / "corpus"))
    proc = run_recipe(recipe, "--stop_stage", "1", env=env, check=False)
    assert proc.returncode != 0
    assert "but protocol 'leaky' is declared speaker-independent" in proc.stderr, proc.stderr[-2000:]
    leaked = re.search(r"fold1: .*speaker\(s\) ([0-9, ]+) in both train and test[;,]", proc.stderr)
    assert leaked, proc.stderr[-2000:]
    assert set(leaked.group(1).split(", ")) <= set(DataDir.load(recipe / "data/all").speakers)
    assert not list((recipe / "data/leaky").glob("fold*"))  # no folds to train on; data/all is kept


def test_recipe_without_corpus_path_fails_clearly(tmp_path):
    recipe = copy_recipe(tmp_path, "meld/memocmt")
    proc = run_recipe(recipe, "--stop_stage", "1", env={"MELD": ""}, check=False)
    assert proc.returncode != 0
    assert "MELD" in proc.stderr and not (recipe / "data/all/utt2spk").exists()
