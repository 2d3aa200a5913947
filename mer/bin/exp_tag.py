"""Print the experiment tag of training configs and their overrides (ESPnet-style), one line per
config, after checking each config with the overrides (a bad one fails here, before any training).

Usage:
  python -m mer.bin.exp_tag [--with-init] CONFIG [CONFIG ...] [KEY=VALUE ...]
  e.g. conf/tuning/train_memocmt_min.yaml train.epochs=3 -> train_memocmt_min_train.epochs3
Arguments with `=` are overrides, the others configs (emo.sh asks for all of a recipe's at once:
one Python start instead of one per config). `--with-init` adds, after a tab, the tags of the
configs that the config's `model.init` names (mer.train.init_from), which must be trained first;
each must be a config file beside it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from mer.train.config import experiment_tag, load_config
from mer.train.init_from import init_dependencies


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    with_init = "--with-init" in argv
    argv = [a for a in argv if a != "--with-init"]
    configs = [a for a in argv if "=" not in a]
    overrides = [a for a in argv if "=" in a]
    lines = []
    for config in configs:
        conf = load_config(config, overrides)  # fail early on a bad config or override
        line = experiment_tag(config, overrides)
        if with_init:
            deps = []
            for branch, name in init_dependencies(conf).items():
                if not (Path(config).parent / f"{name}.yaml").is_file():
                    print(f"exp_tag: error: {config}: model.init.{branch} names {name}, but there is no "
                          f"{Path(config).parent / (name + '.yaml')}", file=sys.stderr)
                    return 1
                deps.append(experiment_tag(name, overrides))
            line += "\t" + " ".join(deps)
        lines.append(line)
    if lines:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
