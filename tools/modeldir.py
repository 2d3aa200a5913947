"""Writing a prepared model directory so that it appears complete or not at all.

A directory is built beside its final place, gets a marker listing its files (`mer.pretrained.MARKER`,
the file `mer.pretrained.is_complete` checks at run time) and is then renamed into place.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from mer.pretrained import MARKER


@contextlib.contextmanager
def staging_dir(out_dir: Path):
    """Yield a temporary directory beside `out_dir`; on success it replaces `out_dir` at once."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        yield tmp
        # mkdtemp (and transformers' own temp files) make things private; models are for everyone
        mask = umask()
        tmp.chmod(0o777 & ~mask)
        for p in tmp.iterdir():
            if p.is_file() and not p.is_symlink():
                p.chmod(0o666 & ~mask)
        old = None
        if out_dir.is_symlink() or out_dir.is_file():
            out_dir.unlink()
        elif out_dir.exists():  # an incomplete earlier attempt: move aside, then delete
            old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.",
                                        suffix=".old"))
            os.replace(out_dir, old / "x")
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def umask() -> int:
    """The process umask (reading it needs setting it; it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_marker(model_dir: Path, files: list[str], **info) -> None:
    # Plain write: the staging directory is renamed into place as a whole, which is the atomic step.
    text = json.dumps({"files": sorted(files), **info}, indent=2) + "\n"
    (model_dir / MARKER).write_text(text, encoding="utf-8")

