"""The corpus registry: every registered corpus runs on its own fake copy through preparation,
validation and every protocol; a module dropped in (the README's, through an entry point) is found
and runs the same way; db.sh and the CLIs take their corpora from the registry.

A new corpus module is tested here without editing this file."""
from __future__ import annotations

import os
import re
import subprocess
import types
from pathlib import Path

import pytest

from mer.bin import corpora as corpora_cli
from mer.bin import make_protocol, prepare_corpus
from mer.data.corpora.registry import (CorpusInfo, CorpusInterfaceError, UnknownCorpus, corpus_from_module,
                                       corpus_names, get_corpus)
from mer.data.datadir import DataDir
from mer.data.protocol_audit import load_audits
from mer.data.protocol_dirs import write_protocol
from mer.data.protocols import PARTS, Fold, check_folds, loso_protocol
from mer.data.validate import check_data_dir

from tests.helpers import REPO

README = REPO / "README.md"
DB_SH = REPO / "egs" / "TEMPLATE" / "emo1" / "db.sh"


def run_through(corpus, tmp: Path) -> dict[str, Path]:
    """write_fake -> prepare (default options, then each protocol's own) -> validated data dirs."""
    corpus_dir = corpus.write_fake(tmp / "corpus")
    options = corpus.fake_options(corpus_dir)
    dirs = {}
    for key, extra in [("default", {})] + [(p.name, dict(p.prepare_options))
                                            for p in corpus.protocols.values() if p.prepare_options]:
        out = tmp / f"all_{key}"
        corpus.prepare(corpus_dir, out, **{**options, **extra})
        res = check_data_dir(out, labels=out / "labels", no_wav=not (out / "wav.scp").exists())
        assert res.ok, (key, res.errors)
        dirs[key] = out
    return dirs


def assert_protocols_write_checked_folds(corpus, dirs: dict[str, Path], tmp: Path) -> None:
    for proto in corpus.protocols.values():
        data = dirs.get(proto.name, dirs["default"])
        out = tmp / "folds" / proto.name
        assert write_protocol(corpus.name, proto.name, data, out) is True
        whole = DataDir.load(data)
        folds = sorted(out.glob("fold*"), key=lambda p: int(p.name[4:]))
        assert folds and [f.name for f in folds] == [f"fold{k}" for k in range(1, len(folds) + 1)]
        parts = []
        for fold in folds:
            for part in PARTS:
                res = check_data_dir(fold / part, no_wav=not (data / "wav.scp").exists())
                assert res.ok, (proto.name, fold.name, part, res.errors)
            parts.append(Fold(*(tuple(DataDir.load(fold / p).utts) for p in PARTS)))
        check_folds(whole, parts, proto)  # what the protocol promises, read back from the files
        audits = load_audits(out)  # stage 1's audit beside every fold
        assert list(audits) == [f.name for f in folds], proto.name
        for audit in audits.values():
            shared = {v for values in audit["shared"]["speakers"].values() for v in values}
            assert audit["speaker_independent"] == proto.speaker_independent
            assert not (shared and proto.speaker_independent), (proto.name, audit["fold"], shared)
            assert audit["valid_is_test"] is False and 0 <= (audit["text_in_train"]["share"] or 0) <= 1
        assert f"protocol '{proto.name}'" in (out / "README").read_text()


@pytest.mark.parametrize("name", corpus_names())
def test_every_corpus_prepares_its_fake_and_runs_every_protocol(name, tmp_path):
    corpus = get_corpus(name)
    if name == "mosei":
        pytest.importorskip("h5py")
    dirs = run_through(corpus, tmp_path)
    dd = DataDir.load(dirs["default"])
    assert len(dd) > 0 and set(dd.utt2emo.values()) <= set(corpus.labels)
    assert set((dirs["default"] / "labels").read_text().split()) <= set(corpus.labels)
    assert corpus.protocol("default").name == corpus.default_protocol
    assert_protocols_write_checked_folds(corpus, dirs, tmp_path)


def test_declarations_are_unique_and_shell_safe():
    corpora = [get_corpus(n) for n in corpus_names()]
    assert {"emodb", "esd", "iemocap", "meld", "mosei", "synthetic"} <= set(corpus_names())
    variables = [c.db_variable for c in corpora]
    assert len(set(variables)) == len(variables)
    for c in corpora:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", c.db_variable), c.db_variable
        assert c.default_dir == f"downloads/{c.name}" and "\n" not in c.description
        assert c.default_protocol in c.protocols
        if c.module.__name__.startswith("mer.data.corpora."):
            assert c.module.__name__ == f"mer.data.corpora.{c.name}"
    with pytest.raises(UnknownCorpus, match="unknown corpus 'nope'; known: emodb, esd"):
        get_corpus("nope")


def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


def test_a_module_that_does_not_conform_is_named_with_what_it_lacks():
    info = CorpusInfo(name="demo", labels=("a", "b"), db_variable="DEMO", description="x",
                      protocols=[loso_protocol()], default_protocol="loso")
    fn = lambda *a, **k: None  # noqa: E731
    with pytest.raises(CorpusInterfaceError, match=r"corpus module pkg\.demo has no CORPUS"):
        corpus_from_module(_module("pkg.demo", prepare=fn))
    with pytest.raises(CorpusInterfaceError, match=r"pkg\.demo lacks the function\(s\) write_fake"):
        corpus_from_module(_module("pkg.demo", CORPUS=info, add_arguments=fn, prepare=fn))
    with pytest.raises(CorpusInterfaceError, match="CORPUS is a dict"):
        corpus_from_module(_module("pkg.demo", CORPUS={"name": "demo"}))
    with pytest.raises(CorpusInterfaceError, match="registered as 'other'"):
        corpus_from_module(_module("pkg.demo", CORPUS=info, add_arguments=fn, prepare=fn, write_fake=fn), "other")
    with pytest.raises(CorpusInterfaceError, match="default_protocol 'lo2so' is not one of"):
        CorpusInfo(name="demo", labels=("a", "b"), db_variable="DEMO", description="x",
                   protocols=[loso_protocol()], default_protocol="lo2so")
    with pytest.raises(CorpusInterfaceError, match="db_variable 'my-var'"):
        CorpusInfo(name="demo", labels=("a", "b"), db_variable="my-var", description="x",
                   protocols=[loso_protocol()], default_protocol="loso")


# ------------------------------------------------------------------ the README's module, dropped in
def test_readme_module_is_discovered_and_runs(readme_corpus, tmp_path, capsys):
    name, _ = readme_corpus
    assert name in corpus_names()
    corpus = get_corpus(name)
    assert corpus.db_variable == "ACTEDEMO" and corpus.default_protocol == "loso"
    dirs = run_through(corpus, tmp_path)
    dd = DataDir.load(dirs["default"])
    assert len(dd) == 24 and dd.speakers == ["s01", "s02", "s03"]
    assert "not one of LABELS" in (dirs["default"] / "excluded").read_text()  # the fake's odd row
    assert_protocols_write_checked_folds(corpus, dirs, tmp_path)
    assert len(list((tmp_path / "folds" / "loso").glob("fold*"))) == 3
    # The command lines know it too.
    assert prepare_corpus.main([name, "--corpus-dir", str(tmp_path / "corpus"), "--out", str(tmp_path / "cli")]) == 0
    assert capsys.readouterr().out.startswith("actedemo: 24 utterances, 3 speakers")
    assert make_protocol.main([name, "default", str(tmp_path / "cli"), str(tmp_path / "cli_loso")]) == 0
    assert "loso (default)" in capsys.readouterr().out
    assert corpora_cli.main(["list"]) == 0
    assert re.search(r"^actedemo +ACTEDEMO +downloads/actedemo +loso\* +angry happy neutral sad$",
                     capsys.readouterr().out, re.M)


# ------------------------------------------------------------------ CLIs and db.sh
def test_corpora_cli_list_and_db_sh(capsys):
    assert corpora_cli.main(["list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:2] == ["corpus", "variable"] and len(rows) == 1 + len(corpus_names())
    assert any(r.split()[:4] == ["iemocap", "IEMOCAP", "downloads/iemocap", "loso*"] for r in rows)
    assert corpora_cli.main(["db-sh"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "MELD=${MELD:-downloads/meld}; export MELD" in lines
    assert len([ln for ln in lines if ln.startswith("#")]) == len(corpus_names())


def test_help_lists_corpora_and_protocols_from_the_registry():
    text = make_protocol.build_parser().format_help()
    assert "iemocap: loso*, random, si, sd" in text and "synthetic: fixed*" in text
    assert "esd ($ESD)" in " ".join(prepare_corpus.build_parser().format_help().split())


def source_db_sh(cwd: Path, env: dict[str, str], script: str) -> subprocess.CompletedProcess:
    """Source db.sh as a recipe's local/data.sh does (set -euo pipefail), without path.sh first and
    with no corpus variable in the environment but those of `env`."""
    drop = {"MER_PYTHON", "MER_ROOT", "ACTEDEMO"} | {get_corpus(n).db_variable for n in corpus_names()}
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(["bash", "-c", f'set -euo pipefail; . "{DB_SH}"; {script}'], cwd=cwd,
                          env={**base, **env}, capture_output=True, text=True)


def test_db_sh_defaults_environment_and_db_local(tmp_path):
    names = " ".join(f"${get_corpus(n).db_variable}" for n in corpus_names())
    proc = source_db_sh(tmp_path, {}, f'echo {names}; bash -c "echo \\$EMODB"')
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split()
    assert out[:-1] == [get_corpus(n).default_dir for n in corpus_names()]
    assert out[-1] == "downloads/emodb"                                        # exported
    # db_local.sh beats the default; the environment beats both.
    (tmp_path / "db_local.sh").write_text("EMODB=${EMODB:-/site/emodb}\nMELD=${MELD:-/site/meld}\n")
    proc = source_db_sh(tmp_path, {"MELD": "/env/meld"}, 'echo "$EMODB $MELD $ESD"')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["/site/emodb", "/env/meld", "downloads/esd"]
    # A failing registry stops the recipe with a message, not with corpus variables silently unset.
    proc = source_db_sh(tmp_path, {"MER_PYTHON": "false", "MER_ROOT": str(REPO)}, "echo reached")
    assert proc.returncode != 0 and "reached" not in proc.stdout and "db.sh:" in proc.stderr


def test_db_sh_lists_a_corpus_of_another_package(readme_corpus, tmp_path):
    _, site = readme_corpus
    proc = source_db_sh(tmp_path, {"PYTHONPATH": f"{REPO}:{site}"}, 'echo "$ACTEDEMO"')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "downloads/actedemo"
