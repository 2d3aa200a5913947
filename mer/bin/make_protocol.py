"""Write the train/valid/test folds of an evaluation protocol.

  python -m mer.bin.make_protocol CORPUS PROTOCOL DATA_DIR OUT_DIR [--seed N]

  e.g.  python -m mer.bin.make_protocol iemocap loso data/all data/loso

Writes OUT_DIR/fold<k>/{train,valid,test} (complete data dirs; a single-split protocol has only
fold1) with OUT_DIR/fold<k>/audit.json (speakers, sessions and dialogues shared between the parts,
test transcripts also in train; one line per fold on the console), OUT_DIR/README (how it was
made, speaker independence, fold sizes) and a .done marker.
A rerun on unchanged input returns at once; changed input or seed rebuilds. PROTOCOL may be
`default`. Each corpus declares its protocols in its module (`python -m mer.bin.corpora list`).
"""
from __future__ import annotations

import argparse
import shlex
import sys

from mer.data.corpora.registry import all_corpora, corpus_names, get_corpus
from mer.data.protocol_audit import load_audits, summary_line
from mer.data.protocol_dirs import get_protocol, write_protocol
from mer.data.protocols import ProtocolError


def build_parser() -> argparse.ArgumentParser:
    known = "Protocols (* = default):\n" + "\n".join(
        f"  {c.name}: " + ", ".join(p + ("*" if p == c.default_protocol else "") for p in c.protocols)
        for c in all_corpora())
    parser = argparse.ArgumentParser(prog="python -m mer.bin.make_protocol", description=__doc__, epilog=known,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", choices=corpus_names())
    parser.add_argument("protocol", help="protocol name, or 'default'")
    parser.add_argument("data_dir", help="the prepared corpus, e.g. data/all")
    parser.add_argument("out_dir", help="where the folds go, e.g. data/loso")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random protocols (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    command = "python -m mer.bin.make_protocol " + " ".join(shlex.quote(a) for a in argv)
    try:
        proto = get_protocol(args.corpus, args.protocol)
        made = write_protocol(args.corpus, proto.name, args.data_dir, args.out_dir, seed=args.seed,
                              command=command)
    except (ProtocolError, FileNotFoundError) as e:
        print(f"make_protocol: error: {e}", file=sys.stderr)
        return 2
    default = " (default)" if get_corpus(args.corpus).default_protocol == proto.name else ""
    if made:
        print(f"make_protocol: {args.corpus} {proto.name}{default} -> {args.out_dir} "
              f"(see {args.out_dir}/README)")
    else:
        print(f"make_protocol: {args.out_dir} is up to date ({args.corpus} {proto.name}); nothing to do")
    for audit in load_audits(args.out_dir).values():
        print(f"make_protocol: audit {summary_line(audit)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
