"""The corpora the toolkit knows (mer.data.corpora.registry): modules of mer/data/corpora and of
other packages registered under the entry-point group `mer.corpora`.

  python -m mer.bin.corpora list      name, db.sh variable, default location, protocols (* = default), labels
  python -m mer.bin.corpora db-sh     the shell lines db.sh evaluates: NAME=${NAME:-downloads/name}; export NAME
  python -m mer.bin.corpora options CORPUS
                                      the corpus's own options as a recipe's shell options, one per line:
                                      name, option, flag|value, default, help (tab-separated; emo.sh reads them)

Imports the corpus modules only (no torch), so db.sh can run it on every recipe start.
"""
from __future__ import annotations

import argparse
import sys

from mer.data.corpora.options import shell_table
from mer.data.corpora.registry import CorpusInterfaceError, UnknownCorpus, all_corpora, get_corpus


def db_sh() -> str:
    """One commented assignment per corpus; a variable already set (environment, db_local.sh) wins."""
    lines = []
    for c in all_corpora():
        lines.append(f"# {c.db_variable}: {c.description}")
        lines.append(f"{c.db_variable}=${{{c.db_variable}:-{c.default_dir}}}; export {c.db_variable}")
    return "\n".join(lines) + "\n"


def table() -> str:
    rows = [("corpus", "variable", "default location", "protocols (* default)", "labels")]
    for c in all_corpora():
        protocols = " ".join(p + ("*" if p == c.default_protocol else "") for p in c.protocols)
        rows.append((c.name, c.db_variable, c.default_dir, protocols, " ".join(c.labels)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "  " + r[-1] for r in rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mer.bin.corpora", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("list", "db-sh", "options"))
    parser.add_argument("corpus", nargs="?", help="the corpus (options only)")
    args = parser.parse_args(argv)
    if (args.command == "options") != (args.corpus is not None):
        parser.error("a corpus name goes with `options`, and only with it")
    try:
        if args.command == "options":
            out = shell_table(get_corpus(args.corpus))
        else:
            out = table() if args.command == "list" else db_sh()
    except (CorpusInterfaceError, UnknownCorpus) as e:
        print(f"corpora: error: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
