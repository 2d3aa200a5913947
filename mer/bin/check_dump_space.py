"""Print the expected size of every dump of a feats config and refuse when their disk is too small.

Usage:
  python -m mer.bin.check_dump_space --config conf/feats.yaml [--name NAME]... [--skip-space-check]
      DATA_DIR DUMPDIR

Stage 2 runs it before dumping anything: each entry's size (mer.features.dump_size: the data dir's
duration x frame rate x dim x layers x bytes per value, + 10 %), less what its dump dir already
holds (nothing more for a finished dump), summed and compared with the free space of DUMPDIR's file system. Exits 1 naming the sizes
when they do not fit, unless --skip-space-check (then it only prints them).
"""
from __future__ import annotations

import argparse
import sys

from mer.bin import dump_feats
from mer.data.datadir import DataDir
from mer.features.dump_size import estimate, free_bytes, human, space_problem


def dump_options(config: str, name: str, data_dir: str, out_dir: str) -> argparse.Namespace:
    """dump_feats' options for entry `name` of `config`, as stage 2 runs it."""
    parser = dump_feats.get_parser()
    argv = ["--config", config, "--name", name, data_dir, out_dir]
    args = parser.parse_args(argv)
    dump_feats.apply_feats_config(args, parser, argv)
    return args


def main(argv: list[str] | None = None) -> int:
    import yaml

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="feats config (conf/feats.yaml)")
    p.add_argument("--name", action="append", help="an entry to check (repeatable; default: all)")
    p.add_argument("--skip-space-check", action="store_true", help="print the sizes, refuse nothing")
    p.add_argument("data_dir")
    p.add_argument("dumpdir")
    args = p.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        names = args.name or list(yaml.safe_load(f) or {})
    data = DataDir.load(args.data_dir)
    estimates = []
    for name in names:
        options = dump_options(args.config, name, args.data_dir, f"{args.dumpdir}/{name}")
        try:
            est = estimate(options, data)
        except (ValueError, OSError) as e:  # an unknown model, say: the dump itself will say so
            print(f"{name}: expected size unknown ({e})")
            continue
        estimates.append(est)
        there = f", {human(est.present)} already there" if est.present else ""
        print(f"{name}: about {human(est.bytes)} ({est.what}, +10 %){there}")
    free, where = free_bytes(args.dumpdir)
    print(f"total still to write: {human(sum(e.needed for e in estimates))}; free on {where}: {human(free)}")
    problem = space_problem(estimates, args.dumpdir)
    if problem and not args.skip_space_check:
        print(f"check_dump_space: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
