"""Stage 1 without local/data.sh: emo.sh takes the corpus module's own options (one spelling each),
prepare_corpus takes the options a protocol needs as its defaults, and a recipe made by setup.sh
accepts an option its corpus declares."""
from __future__ import annotations

import argparse
import json
import subprocess
import textwrap

import pytest

from mer.bin import corpora as corpora_cli
from mer.bin import prepare_corpus
from mer.data.corpora.mosei_folds import find_folds_file
from mer.data.corpora.options import shell_options
from mer.data.corpora.registry import CorpusInterfaceError, get_corpus
from mer.data.datadir import DataDir
from tests.helpers.corpora import readme_module
from tests.helpers.recipes import REPO, run_recipe

# A corpus of another package with options of its own: the README's ActedEmo with a choice of
# actors (a value) and of the first take only (a flag).
ACTORS_MODULE = textwrap.dedent('''
    from pathlib import Path

    import actedemo
    from mer.data.corpora.common import PrepReport, write_prepared
    from mer.data.corpora.registry import CorpusInfo

    CORPUS = CorpusInfo(name="actorsdemo", labels=actedemo.LABELS, db_variable="ACTORSDEMO",
                        description="ActedEmo, some actors (a test)", protocols=actedemo.CORPUS.protocols,
                        default_protocol="loso")
    write_fake = actedemo.write_fake


    def add_arguments(parser):
        parser.add_argument("--actors", default="all", help="comma-separated speakers to keep, or all")
        parser.add_argument("--first-take-only", action="store_true", help="only the sentences numbered 1")


    def prepare(corpus_dir, out_dir, actors="all", first_take_only=False):
        dd = actedemo.prepare(corpus_dir, out_dir)
        keep = set(dd.speakers) if actors == "all" else set(actors.split(","))
        dd = dd.filter(lambda u: dd.utt2spk[u] in keep and (not first_take_only or u.endswith("_1")))
        write_prepared(dd, out_dir, actedemo.LABELS, PrepReport(Path(corpus_dir)))
        return dd
''')


@pytest.fixture
def actors_site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "actedemo.py").write_text(readme_module())
    (site / "actorsdemo.py").write_text(ACTORS_MODULE)
    info = site / "actorsdemo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: actorsdemo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mer.corpora]\nactorsdemo = actorsdemo\n")
    return site


def test_setup_recipe_takes_the_corpus_options_at_stage1(actors_site, tmp_path):
    env = {"PYTHONPATH": f"{REPO}:{actors_site}"}
    recipe = tmp_path / "egs" / "actorsdemo" / "audio"
    proc = subprocess.run([str(REPO / "egs/TEMPLATE/emo1/setup.sh"), str(recipe), "--corpus", "actorsdemo"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env})
    assert proc.returncode == 0, proc.stderr
    assert not (recipe / "local").exists()  # stage 1 is emo.sh's own
    corpus = tmp_path / "corpus"
    subprocess.run([str(REPO / ".venv/bin/python"), "-c", "import sys, actedemo; actedemo.write_fake("
                    "__import__('pathlib').Path(sys.argv[1]))", str(corpus)], env=env, check=True)
    with open(corpus / "metadata.csv", "a") as f:  # a fourth actor (s01's wavs), so three can be picked
        f.writelines(f"s01_{e}_{n}.wav,s04,{e},This is sentence {n}.\n" for e in ("angry", "sad") for n in (1, 2))
    env["ACTORSDEMO"] = str(corpus)
    run_recipe(recipe, "--stop_stage", "1", "--actors", "s01,s02,s04", "--first-take-only", "true", env=env)
    all_ = DataDir.load(recipe / "data/all")
    assert all_.speakers == ["s01", "s02", "s04"] and len(all_) == 4 + 4 + 2  # emotions x take 1
    assert sorted(p.name for p in (recipe / "data/loso").glob("fold*")) == ["fold1", "fold2", "fold3"]
    assert "--actors" in run_recipe(recipe, "--help", env=env).stdout  # listed with the corpus's help
    run_recipe(recipe, "--stop_stage", "1", env=env)  # the defaults: every actor, both takes
    assert len(DataDir.load(recipe / "data/all")) == 3 * 8 + 4
    bad = run_recipe(recipe, "--stop_stage", "1", "--actor", "s01", env=env, check=False)
    assert bad.returncode != 0 and "unknown option '--actor'" in bad.stderr and "--actors" in bad.stderr
    bad = run_recipe(recipe, "--stop_stage", "1", "--local_data_opts", "--actors s01", env=env, check=False)
    assert bad.returncode != 0 and "no local/data.sh" in bad.stderr


def test_shell_options_one_spelling_each():
    meld = {o.name: (o.option, o.flag, o.default) for o in shell_options(get_corpus("meld"))}
    assert meld["label_set"] == ("--label-set", False, "7class")
    assert meld["text_only"] == ("--text-only", True, "false")
    emodb = [o.name for o in shell_options(get_corpus("emodb"))]
    assert emodb == ["label_set"]  # --label-map is an old spelling, hidden
    mosei = {o.name: o for o in shell_options(get_corpus("mosei"))}
    assert "folds" not in mosei and mosei["folds_file"].option == "--folds-file"  # emo.sh's --folds is its own
    assert mosei["folds_file"].default == "auto"


def test_shell_options_need_a_long_name():
    class Odd:
        name = "odd"

        @staticmethod
        def add_arguments(parser):
            parser.add_argument("-x", help="short only")

    with pytest.raises(CorpusInterfaceError, match="corpus odd: option .*-x"):
        shell_options(Odd())


def test_corpora_cli_options(capsys):
    assert corpora_cli.main(["options", "iemocap"]) == 0
    assert capsys.readouterr().out.split("\t")[:4] == ["no_merge_exc", "--no-merge-exc", "flag", "false"]
    assert corpora_cli.main(["options", "nope"]) == 2
    assert "unknown corpus 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        corpora_cli.main(["list", "meld"])


def test_prepare_corpus_protocol_defaults_and_old_spelling(tmp_path, capsys):
    meld = get_corpus("meld").write_fake(tmp_path / "meld")
    base = ["meld", "--corpus-dir", str(meld), "--text-only", "--out"]
    assert prepare_corpus.main([*base, str(tmp_path / "rs"), "--protocol", "resplit"]) == 0
    assert "fear" not in (tmp_path / "rs/labels").read_text().split()  # resplit needs 6class
    assert prepare_corpus.main([*base, str(tmp_path / "off"), "--protocol", "official"]) == 0
    assert "fear" in (tmp_path / "off/labels").read_text().split()
    assert prepare_corpus.main([*base, str(tmp_path / "won"), "--protocol", "resplit", "--label-set", "7class"]) == 0
    assert "fear" in (tmp_path / "won/labels").read_text().split()  # the command line wins
    with pytest.raises(SystemExit):
        prepare_corpus.main([*base, str(tmp_path / "x"), "--protocol", "nope"])
    assert "no protocol 'nope' for meld" in capsys.readouterr().err
    emodb = get_corpus("emodb").write_fake(tmp_path / "emodb")
    assert prepare_corpus.main(["emodb", "--corpus-dir", str(emodb), "--out", str(tmp_path / "e4"),
                                "--label-map", "4class"]) == 0
    assert "--label-map is deprecated; it is now --label-set" in capsys.readouterr().err
    assert (tmp_path / "e4/labels").read_text().split() == ["ang", "hap", "sad", "neu"]


def test_find_mosei_folds_file(tmp_path):
    corpus = tmp_path / "CMU_MOSEI"
    (corpus / "a/b/c/d").mkdir(parents=True)
    assert find_folds_file(corpus) is None
    (tmp_path / "mosei_folds.json").write_text(json.dumps({}))
    assert find_folds_file(corpus) == tmp_path / "mosei_folds.json"  # beside the corpus
    (corpus / "a/b/c/d/mosei_folds.json").write_text("{}")  # too deep
    assert find_folds_file(corpus) == tmp_path / "mosei_folds.json"
    (corpus / "a/b/c/cmu_mosei_std_folds.py").write_text("")
    (corpus / "a/mosei_folds.json").write_text("{}")
    assert find_folds_file(corpus) == corpus / "a/b/c/cmu_mosei_std_folds.py"  # below wins; C order of paths


@pytest.mark.parametrize("args, value", [
    (["--nj", "2", "--text-only", "true"], "true"),
    (["--text_only=true", "--text_only", "false"], "false"),
    (["--stage", "1"], "dflt"),
    (["--text_onlyx", "true"], "dflt"),
])
def test_peek_option(args, value):
    proc = subprocess.run(["bash", "-c", f'set -euo pipefail; . {REPO}/utils/lib/peek_option.sh; '
                           'peek_option text-only dflt "$@"', "x", *args], capture_output=True, text=True)
    assert proc.stdout == value + "\n", proc.stderr


def test_mosei_old_folds_spelling_still_parses():
    parser = argparse.ArgumentParser()
    get_corpus("mosei").add_arguments(parser)
    assert parser.parse_args(["--folds", "f.json"]).folds == "f.json"
    assert parser.parse_args([]).folds == "auto"
