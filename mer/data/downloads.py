"""Downloading the open corpora: official sources, and checksums of the files the recipes read.

Each source is fetched to `<dest>/.download/<file>.part`, renamed when complete, unpacked into
`<dest>`, and checked: the checksum covers the extracted files that preparation reads (sorted
relative names and each file's SHA-256), so it holds whatever the archive's own packing. A corpus
already in place and matching its checksum is not downloaded again.

EmoDB: the authors' `download.zip` (Burkhardt et al., Interspeech 2005; freely available, cite the
paper). MELD: the annotation CSVs from the authors' repository (enough for text-only recipes), or
the full `MELD.Raw.tar.gz` with the video clips (about 10.9 GB; GPL-3.0). The CSVs inside
MELD.Raw are an older encoding of the same rows; both versions are accepted.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Source:
    urls: tuple[str, ...]                     # files to fetch (an archive is unpacked into dest)
    pattern: str                              # the files the checksum covers, relative to dest
    checksums: tuple[str, ...]                # accepted tree checksums (see tree_checksum)
    count: int                                # how many files `pattern` must match
    note: str = ""
    strip: str = ""                           # a leading folder inside the archive to drop
    moves: dict = field(default_factory=dict)  # fetched file name -> path under dest


# The CSVs as the repository has them now (UTF-8) and as MELD.Raw ships them (the 2019 encoding).
MELD_CSV_CURRENT = "f956099f876436e3630b855f5a11600c8fb6cb8f52ad07721e597bf0800998fa"
MELD_CSV_2019 = "4273ef53ccd1acfa1fb765c79179dedf7280c9d888563b0eb04ae1ed1636905e"
MELD_CSV = "https://raw.githubusercontent.com/declare-lab/MELD/2d2011b/data/MELD/{}_sent_emo.csv"
SOURCES: dict[str, dict[str, Source]] = {
    "emodb": {
        "full": Source(urls=("http://emodb.bilderbar.info/download/download.zip",), pattern="wav/*.wav",
                       checksums=("b559935e66bed671f7d43f0d2f4e865ecebb1e5281bd65c279aecf4c70c5aeb0",), count=535,
                       note="Berlin EmoDB, 535 utterances, 10 speakers, 7 emotions (about 40 MB)"),
    },
    "meld": {
        "csv": Source(urls=tuple(MELD_CSV.format(s) for s in ("train", "dev", "test")), pattern="*_sent_emo.csv",
                      checksums=(MELD_CSV_CURRENT,), count=3,
                      note="MELD's annotation CSVs only (text-only recipes; about 1.5 MB)"),
        "full": Source(urls=("https://web.eecs.umich.edu/~mihalcea/downloads/MELD.Raw.tar.gz",),
                       pattern="**/*_sent_emo.csv", checksums=(MELD_CSV_CURRENT, MELD_CSV_2019), count=3,
                       strip="MELD.Raw",
                       note="MELD.Raw: CSVs and the video clips (about 10.9 GB)"),
    },
}


def tree_checksum(root: Path, pattern: str) -> tuple[int, str]:
    """(number of files, SHA-256 over their sorted file names and contents' SHA-256). Names without
    folders: archives unpack into different layouts."""
    entries = []
    for f in (p for p in root.glob(pattern) if p.is_file() and ".download" not in p.parts):
        digest = hashlib.sha256()
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        entries.append(f.name.encode() + b"\0" + digest.digest())
    h = hashlib.sha256()
    for e in sorted(entries):
        h.update(e)
    return len(entries), h.hexdigest()


class DownloadError(RuntimeError):
    pass


def check(dest: Path, source: Source) -> str | None:
    """None when `dest` holds the corpus as expected, else what is wrong."""
    n, digest = tree_checksum(dest, source.pattern)
    if n != source.count:
        return f"{dest}: {n} file(s) match {source.pattern}, expected {source.count}"
    if source.checksums and digest not in source.checksums:
        return (f"{dest}: the files matching {source.pattern} have checksum {digest}, expected "
                f"{' or '.join(source.checksums)} (a different or damaged copy)")
    return None


def _fetch(url: str, target: Path) -> None:
    part = target.with_name(target.name + ".part")
    print(f"downloading {url} -> {target}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as out:
            shutil.copyfileobj(r, out, 1 << 20)
    except OSError as e:  # URLError is an OSError
        raise DownloadError(f"cannot download {url}: {e}") from None
    part.replace(target)


def _unpack(archive: Path, dest: Path, strip: str) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")  # no absolute paths, links out of dest, devices
    else:
        shutil.copy2(archive, dest / archive.name)
        return
    if strip and (dest / strip).is_dir():
        for item in (dest / strip).iterdir():
            item.replace(dest / item.name)
        (dest / strip).rmdir()
    for nested in sorted(dest.glob("*.tar.gz")):  # MELD.Raw packs each split once more
        _unpack(nested, dest, "")
        nested.unlink()


def download(corpus: str, dest: str | Path, what: str = "full", sources=None) -> Path:
    """Fetch, unpack and check `corpus` into `dest`; return `dest`. Skips a complete copy."""
    table = (sources or SOURCES).get(corpus)
    if table is None or what not in table:
        known = ", ".join(f"{c} ({'/'.join(t)})" for c, t in (sources or SOURCES).items())
        raise DownloadError(f"no download for '{corpus}' '{what}'; open corpora: {known}")
    source, dest = table[what], Path(dest)
    if dest.is_dir() and check(dest, source) is None:
        print(f"{dest}: {corpus} is already there, checksum verified; nothing to download", file=sys.stderr)
        return dest
    cache = dest / ".download"
    cache.mkdir(parents=True, exist_ok=True)
    for url in source.urls:
        target = cache / url.rsplit("/", 1)[-1]
        if not target.is_file():
            _fetch(url, target)
        _unpack(target, dest, source.strip)
    problem = check(dest, source)
    if problem:
        raise DownloadError(f"downloaded, but {problem}; remove {cache} to fetch again")
    shutil.rmtree(cache)
    print(f"{dest}: {corpus} downloaded and verified", file=sys.stderr)
    return dest
