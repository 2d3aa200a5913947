"""Corpus preparation: one module per corpus, one interface for all.

Every corpus module `mer.data.corpora.<name>` (or a module of another package registered under the
entry-point group `mer.corpora`) declares `CORPUS = CorpusInfo(...)` (name, labels, db.sh
variable, protocols, default protocol: see mer.data.corpora.registry) and defines

  add_arguments(parser)   adds the corpus's own options to an argparse parser; the `dest` of each
                          option is the keyword `prepare` takes;
  prepare(corpus_dir: Path, out_dir: Path, **options) -> DataDir
                          reads the corpus as distributed and writes a complete data dir to
                          `out_dir` with `mer.data.corpora.common.write_prepared`: wav.scp, text,
                          utt2spk, spk2utt, utt2emo, utt2gender/utt2session where the corpus has
                          them, utt2split (train/valid/test) where it has an official split,
                          utt2dialog (`<utt> <dialogue id>`) and utt2turn (`<utt> <number>`, the
                          order within the dialogue: sort by (turn, utt id); the start in seconds
                          where known, else an index) where it has dialogues (see
                          mer.data.dialogues), plus `labels` (the label set used, one per line),
                          `excluded` (`id<TAB>reason`, C-sorted; always written, possibly empty)
                          and, when there is something to say, `warnings` and `text_missing`;
  write_fake(root: Path) -> Path
                          a tiny fake copy of the corpus as distributed, for tests.

`python -m mer.bin.corpora list` shows the registered corpora, their protocols and labels.

`python -m mer.bin.prepare_corpus CORPUS --corpus-dir DIR --out data/all [options]` drives it.
"""
from __future__ import annotations

from mer.data.corpora.registry import CorpusInfo, corpus_names, get_corpus

__all__ = ["CorpusInfo", "corpus_names", "get_corpus"]
