"""The README's corpus module, installed as another package would install it (an entry point)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from mer.data.corpora import mosei, registry
from tests.helpers import REPO

README = REPO / "README.md"


def readme_module() -> str:
    text = README.read_text()
    section = text[text.index("## Adding a corpus"):]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def install_corpus_module(site: Path, name: str, source: str) -> str:
    """`source` as the module `name` of another package, registered under the entry-point group
    mer.corpora (a dist-info folder, as pip writes it); returns the corpus name."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(source)
    info = site / f"{name}_corpus-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-corpus\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[mer.corpora]\n{name} = {name}\n")
    return name


def install_entry_point(site: Path) -> str:
    """The README's module as the module `actedemo` of another package."""
    return install_corpus_module(site, "actedemo", readme_module())


@pytest.fixture
def readme_corpus(tmp_path, monkeypatch):
    site = tmp_path / "site"
    name = install_entry_point(site)
    monkeypatch.syspath_prepend(str(site))
    registry.clear_cache()
    yield name, site
    registry.clear_cache()
    sys.modules.pop("actedemo", None)


# A speaker leak on purpose: EmoDB's files under a protocol declared speaker-independent whose folds
# shuffle utterances, so a speaker lands in two parts; stage 1 must refuse it.
LEAKY_MODULE = '''
from mer.data.corpora.emodb import LABELS, add_arguments, prepare, write_fake
from mer.data.corpora.registry import CorpusInfo
from mer.data.protocols import Protocol, random_split

CORPUS = CorpusInfo(
    name="leakdemo", labels=LABELS, db_variable="LEAKDEMO", description="a speaker leak on purpose (a test)",
    protocols=[Protocol("leaky", lambda dd, seed=0: [random_split(dd.utt2spk, 0.3, 0.3, seed)],
                        "utterances shuffled, yet declared speaker-independent", True, False)],
    default_protocol="leaky")
'''


@pytest.fixture
def leaky_corpus(tmp_path, monkeypatch):
    """The corpus `leakdemo` installed in `site` (yields its name and site)."""
    site = tmp_path / "site"
    name = install_corpus_module(site, "leakdemo", LEAKY_MODULE)
    monkeypatch.syspath_prepend(str(site))
    registry.clear_cache()
    yield name, site
    registry.clear_cache()
    sys.modules.pop("leakdemo", None)


@pytest.fixture(scope="module")
def mosei_corpus(tmp_path_factory):
    pytest.importorskip("h5py")
    return mosei.write_fake(tmp_path_factory.mktemp("mosei"))
