"""Corpus downloads: fetched, unpacked, verified by the checksums of the files recipes read, skipped
when present; a damaged copy is named. Sources are file:// URLs here (no network in tests)."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from mer.data.downloads import SOURCES, DownloadError, Source, check, download, tree_checksum


def make_archive(tmp: Path) -> tuple[Path, str]:
    src = tmp / "src"
    (src / "wav").mkdir(parents=True)
    for i in range(3):
        (src / "wav" / f"a{i}.wav").write_bytes(os.urandom(100))
    _, digest = tree_checksum(src, "wav/*.wav")
    archive = tmp / "download.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in (src / "wav").iterdir():
            z.write(f, f"wav/{f.name}")
    return archive, digest


def test_download_unpacks_verifies_and_skips(tmp_path, capsys):
    archive, digest = make_archive(tmp_path)
    sources = {"toy": {"full": Source(urls=(archive.as_uri(),), pattern="wav/*.wav", checksums=(digest,), count=3)}}
    dest = download("toy", tmp_path / "downloads/toy", sources=sources)
    assert check(dest, sources["toy"]["full"]) is None and not (dest / ".download").exists()
    download("toy", dest, sources=sources)
    assert "already there, checksum verified" in capsys.readouterr().err
    # a different archive under the same name is caught, and what to do is said
    bad = {"toy": {"full": Source(urls=(archive.as_uri(),), pattern="wav/*.wav", checksums=("0" * 64,), count=3)}}
    with pytest.raises(DownloadError, match="checksum .* expected 0000"):
        download("toy", tmp_path / "other", sources=bad)
    with pytest.raises(DownloadError, match="cannot download"):
        download("toy", tmp_path / "x", sources={"toy": {"full": Source(
            urls=((tmp_path / "missing.zip").as_uri(),), pattern="*", checksums=(), count=1)}})


@pytest.mark.parametrize("corpus, what, env, sub", [("emodb", "full", "EMODB", ""),
                                                     ("meld", "csv", "MELD", "data/MELD")])
def test_recorded_checksums_match_the_real_corpus(corpus, what, env, sub):
    root = os.environ.get(env)
    if not root or not Path(root).is_dir():
        pytest.skip(f"set {env} to a copy of the real corpus to check its recorded checksum")
    where = Path(root) / sub if (Path(root) / sub).is_dir() else Path(root)
    assert check(where, SOURCES[corpus][what]) is None
