"""Corpus preparation: one module per corpus, one interface for all.

Every module `mer.data.corpora.<name>` exposes

  LABELS                  the default label set, a tuple in a fixed, documented order (the order
                          models use for their output classes);
  add_arguments(parser)   adds the corpus's own options to an argparse parser; the `dest` of each
                          option is the keyword `prepare` takes;
  prepare(corpus_dir: Path, out_dir: Path, **options) -> DataDir
                          reads the corpus as distributed and writes a complete data dir to
                          `out_dir` with `mer.data.corpora.common.write_prepared`: wav.scp, text,
                          utt2spk, spk2utt, utt2emo, utt2gender/utt2session where the corpus has
                          them, utt2split (train/valid/test) where it has an official split,
                          utt2dialog (`<utt> <dialogue id>`) and utt2turn (`<utt> <number>`, the
                          order within the dialogue: sort by (turn, utt id); the start in seconds
                          where known, else an index) where it has dialogues (IEMOCAP, MELD,
                          MOSEI; not EmoDB, ESD; see mer.data.dialogues),
                          plus `labels` (the label set used, one per line), `excluded`
                          (`id<TAB>reason`, C-sorted; always written, possibly empty) and, when
                          there is something to say, `warnings` and `text_missing`.

`python -m mer.bin.prepare_corpus CORPUS --corpus-dir DIR --out data/all [options]` drives it.
"""
from __future__ import annotations

import importlib
from types import ModuleType

CORPORA = ("iemocap", "esd", "meld", "mosei", "emodb")

# Variable that holds each corpus's location in a recipe's db.sh (named in error messages).
DB_VARIABLES = {"iemocap": "IEMOCAP", "esd": "ESD", "meld": "MELD", "mosei": "MOSEI", "emodb": "EMODB"}


def get_corpus(name: str) -> ModuleType:
    """The preparation module of corpus `name` (one of CORPORA)."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus '{name}'; known: {', '.join(CORPORA)}")
    return importlib.import_module(f"{__name__}.{name}")
