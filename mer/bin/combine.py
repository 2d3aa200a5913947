"""Run a combiner (a system made from other systems' decode dirs or from a dump) on every fold.

Usage:
  python -m mer.bin.combine --config conf/combine/hierarchy.yaml --protocol-dir data/si \
      --exp-root exp/si --out exp/si/hierarchy [--test-sets valid test] [--set threshold=0.3]
  python -m mer.bin.combine --name linear_probe --set dump=whisper --set layer=2 \
      --protocol-dir data/loso --exp-root exp/loso --out exp/loso/probe_whisper_l2

The YAML holds `combiner: {name: NAME, <settings>}`; `--set KEY=VALUE` overrides a setting (the
value is read as YAML). Writes OUT/fold<k>/decode_<set>/ like `mer.bin.infer`; folds whose decode
dirs are complete are skipped; then the combiner's summary over all folds (if it has one).
Without --protocol-dir (a combiner that needs only other systems' decode dirs) the folds are the
fold<k> dirs found under EXP_ROOT/*/.

`--plan FILE` (- for stdin) runs several combiners in one process, one per line, in order: a line
holds that combiner's own options (`--name linear_probe --set layer=2 --out exp/loso/probe_l2`),
added to the options on the command line, which they share. The first that fails stops the plan,
as a failing command would (the ones before it are finished and stay finished). A stage with many
combiners (a hierarchy's thresholds, a probe grid) pays one Python start instead of one each.
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

import yaml

from mer.combine import build_combiner
from mer.combine.base import FoldContext
from mer.utils.cli import run_main

log = logging.getLogger("mer.combine")


def load_settings(config: str | None, name: str | None, sets: list[str]) -> dict:
    settings: dict = {}
    if config:
        with open(config, encoding="utf-8") as f:
            conf = yaml.safe_load(f) or {}
        if not isinstance(conf, dict) or not isinstance(conf.get("combiner"), dict) or set(conf) != {"combiner"}:
            raise ValueError(f"{config}: a combiner config is a mapping with one key, `combiner:`")
        settings = dict(conf["combiner"])
    if name:
        settings["name"] = name
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set {item}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        settings[key.strip()] = yaml.safe_load(value)
    return settings


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML with a `combiner:` block")
    p.add_argument("--name", help="combiner name (instead of, or overriding, the config's)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    p.add_argument("--protocol-dir", help="data/<protocol> holding fold<k>/ (default: none; folds from EXP_ROOT)")
    p.add_argument("--exp-root", help="exp/<protocol>: other systems' results (default: OUT's parent)")
    p.add_argument("--out", help="exp/<protocol>/<name> (required, on the command line or each plan line)")
    p.add_argument("--plan", metavar="FILE", help="one combiner per line (its own options), - for stdin")
    p.add_argument("--dumpdir", default="dump")
    p.add_argument("--test-sets", nargs="+", default=["test"])
    p.add_argument("--folds", nargs="*", help="fold numbers (default: every fold<k>)")
    p.add_argument("--corpus")
    p.add_argument("--system-dir", action="append", default=[], metavar="NAME=DIR",
                   help="the trained system NAME (as the combiner config names it) lives in EXP_ROOT/DIR "
                        "(emo.sh passes each config's experiment tag, which carries --train_args)")
    return p


def plan_lines(path: str) -> list[list[str]]:
    with (sys.stdin if path == "-" else open(path, encoding="utf-8")) as f:
        return [shlex.split(line) for line in f if line.strip()]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = get_parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    if not args.plan:
        return run(p, args)
    shared = argv[:]
    i = shared.index("--plan") if "--plan" in shared else next(k for k, a in enumerate(shared) if a.startswith("--plan="))
    del shared[i:i + (1 if "=" in shared[i] else 2)]
    for line in plan_lines(args.plan):
        one = p.parse_args(shared + line)
        if one.plan:
            p.error(f"--plan {args.plan}: a plan line cannot hold --plan: {shlex.join(line)}")
        try:
            run(p, one)
        except (ValueError, FileNotFoundError) as e:  # which line of the plan, then what
            raise type(e)(f"{one.out}: {e}") from e
    return 0


def run(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """One combiner on every fold."""
    if not args.out:
        p.error("--out is required (on the command line, or on each --plan line)")
    bad = [a for a in args.system_dir if "=" not in a]
    if bad:
        p.error(f"--system-dir takes NAME=DIR, got {bad[0]!r}")
    settings = load_settings(args.config, args.name, args.set)
    log.info("combiner %s (%s)", args.out, settings.get("name"))
    combiner = build_combiner(settings)
    system_dirs = dict(a.split("=", 1) for a in args.system_dir)
    out = Path(args.out)
    exp_root = Path(args.exp_root or out.parent)
    if args.protocol_dir:
        folds = [f for f in Path(args.protocol_dir).glob("fold*") if f.name[4:].isdigit()]
    else:  # decode dirs alone: a fold path under which no data dir exists
        names = {f.name for f in exp_root.glob("*/fold*") if f.is_dir() and f.name[4:].isdigit()
                 and f.parent.resolve() != out.resolve()}
        folds = [Path(os.devnull) / name for name in names]
    folds.sort(key=lambda f: int(f.name[4:]))
    if args.folds:
        folds = [f for f in folds if f.name[4:] in set(args.folds)]
    if not folds:
        raise ValueError(f"no fold*/ in {args.protocol_dir or exp_root / '*'}")
    protocol = Path(args.protocol_dir).name if args.protocol_dir else exp_root.resolve().name
    for fold in folds:
        fold_out = out / fold.name
        if all((fold_out / f"decode_{s}" / "meta.json").is_file() for s in args.test_sets):
            continue
        ctx = FoldContext(fold_dir=fold, out_dir=fold_out, exp_root=exp_root,
                          dumpdir=Path(args.dumpdir), test_sets=list(args.test_sets),
                          meta={"protocol": protocol, "config": out.name,
                                "fold": int(fold.name[4:]), "corpus": args.corpus},
                          system_dirs=system_dirs)
        combiner.run_fold(ctx)
        log.info("%s %s done", out.name, fold.name)
    combiner.summarize(out, [f.name for f in folds])
    return 0


if __name__ == "__main__":
    run_main(main, "combine", (ValueError, FileNotFoundError))
