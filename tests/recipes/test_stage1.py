"""Stage 1 of the corpus recipes on faithful miniatures: data/all, folds, exclusions, db.sh."""
from __future__ import annotations

from pathlib import Path

from mer.data.corpora.fakes.esd import write_fake as build_esd
from mer.data.corpora.fakes.iemocap import write_fake as build_iemocap
from mer.data.datadir import DataDir
from mer.data.validate import validate_data_dir
from tests.helpers.recipes import copy_recipe, run_recipe


def speakers(d: Path) -> set[str]:
    return set(DataDir.load(d).utt2spk.values())


def test_iemocap_recipe_stage1_loso_and_random(tmp_path):
    corpus = build_iemocap(tmp_path / "corpus")
    recipe = copy_recipe(tmp_path, "iemocap/memocmt")
    run_recipe(recipe, "--stop_stage", "1", env={"IEMOCAP": str(corpus)})
    assert validate_data_dir(recipe / "data/all") == []
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


def test_esd_recipe_stage1_lo2so(tmp_path):
    corpus = build_esd(tmp_path / "corpus")
    recipe = copy_recipe(tmp_path, "esd/memocmt")
    run_recipe(recipe, "--stop_stage", "1", env={"ESD": str(corpus)})
    for f in sorted((recipe / "data/lo2so").glob("fold*")):
        assert not speakers(f / "test") & speakers(f / "train")


def test_recipe_without_corpus_path_fails_clearly(tmp_path):
    recipe = copy_recipe(tmp_path, "meld/memocmt")
    proc = run_recipe(recipe, "--stop_stage", "1", env={"MELD": ""}, check=False)
    assert proc.returncode != 0
    assert "MELD" in proc.stderr and not (recipe / "data/all/utt2spk").exists()
