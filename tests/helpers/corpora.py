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


def install_entry_point(site: Path) -> str:
    """The README's module as the module `actedemo` of another package, registered under the
    entry-point group mer.corpora (a dist-info folder, as pip writes it); returns the corpus name."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "actedemo.py").write_text(readme_module())
    info = site / "actedemo_corpus-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: actedemo-corpus\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mer.corpora]\nactedemo = actedemo\n")
    return "actedemo"


@pytest.fixture
def readme_corpus(tmp_path, monkeypatch):
    site = tmp_path / "site"
    name = install_entry_point(site)
    monkeypatch.syspath_prepend(str(site))
    registry.clear_cache()
    yield name, site
    registry.clear_cache()
    sys.modules.pop("actedemo", None)


@pytest.fixture(scope="module")
def mosei_corpus(tmp_path_factory):
    pytest.importorskip("h5py")
    return mosei.write_fake(tmp_path_factory.mktemp("mosei"))
