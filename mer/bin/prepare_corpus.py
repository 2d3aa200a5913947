"""Prepare a corpus as distributed into a data dir.

  python -m mer.bin.prepare_corpus CORPUS --corpus-dir DIR --out data/all [--protocol P] [corpus options]
  python -m mer.bin.prepare_corpus CORPUS --help        (that corpus's options)

CORPUS is a registered corpus (`python -m mer.bin.corpora list`). --corpus-dir defaults to the
environment variable of the corpus (EMODB, IEMOCAP, ...: what a recipe's db.sh sets). Writes
the data dir with `labels`, `excluded` (id<TAB>reason) and, when needed, `warnings` and
`text_missing`; prints one summary line. Exit status 2 when the corpus dir is unset or missing.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from mer.data.corpora.registry import corpus_names, get_corpus
from mer.data.corpora.common import CorpusError, resolve_corpus_dir, summary
from mer.data.protocols import ProtocolError


def build_parser(corpus: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mer.bin.prepare_corpus", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    names = corpus_names()
    parser.add_argument("corpus", choices=names, help="which corpus: " + ", ".join(
        f"{n} (${get_corpus(n).db_variable})" for n in names))
    parser.add_argument("--corpus-dir", default=None,
                        help="the corpus as distributed (default: the corpus's variable of db.sh, e.g. $EMODB)")
    parser.add_argument("--out", required=True, help="data dir to write, e.g. data/all")
    parser.add_argument("--protocol", default=None,
                        help="the protocol the data dir is for: the corpus options it needs become the defaults")
    if corpus in names:
        group = parser.add_argument_group(f"{corpus} options")
        get_corpus(corpus).add_arguments(group)
    return parser


def protocol_defaults(parser: argparse.ArgumentParser, corpus: str, argv: list[str]) -> None:
    """The options --protocol needs (its `prepare_options`) as the parser's defaults."""
    protocol = parser.parse_known_args(argv)[0].protocol
    if protocol is None:
        return
    try:
        parser.set_defaults(**get_corpus(corpus).protocol(protocol).prepare_options)
    except ProtocolError as e:
        parser.error(str(e))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The corpus's own options depend on the corpus: find it first, then parse everything.
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("corpus", nargs="?")
    known, _ = first.parse_known_args(argv)
    parser = build_parser(known.corpus)
    protocol_defaults(parser, known.corpus, argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    variable = get_corpus(args.corpus).db_variable
    corpus_dir = args.corpus_dir if args.corpus_dir is not None else os.environ.get(variable)
    options = {k: v for k, v in vars(args).items() if k not in ("corpus", "corpus_dir", "out", "protocol")}
    try:
        corpus_dir = resolve_corpus_dir(corpus_dir, variable)
        get_corpus(args.corpus).prepare(corpus_dir, args.out, **options)
    except CorpusError as e:
        print(f"prepare_corpus: error: {e}", file=sys.stderr)
        return 2
    print(summary(args.corpus, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
