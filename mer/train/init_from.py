"""Initialising branches of a model from another config's trained model: `model.init: {text: NAME}`.

A two-step recipe (system B trains its text module alone first, then the whole model from it) names
the first config in the second: `model.init: {text: train_text_pretrain}`. NAME is a config of the
same recipe (its file stem); with the run's overrides it gives the experiment tag, and the fold is
this run's own, so `exp/<protocol>/<tag>/fold3/best.pt` initialises fold 3. The first run must have
finished (its `train_summary.json`): emo.sh's stage 3 trains named configs first, and this module
refuses to start from an unfinished or mismatched one. Only the named branch's parameters are
copied (for cnn_attn `text`: the text stream, FC, GRU and projection; not the classifier).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
import yaml

from mer.checkpoint import load_checkpoint
from mer.train.config import experiment_tag

log = logging.getLogger("mer.train")


def init_dependencies(conf: dict) -> dict[str, str]:
    """branch -> config name, as the config's `model.init` says (empty when it names none)."""
    return dict(conf["model"].get("init") or {})


def source_exp_dir(exp_dir: str | Path, name: str, overrides: list[str] = ()) -> Path:
    """The same fold of config NAME trained with the same overrides: a sibling experiment dir."""
    exp_dir = Path(exp_dir)
    return exp_dir.parent.parent / experiment_tag(name, list(overrides)) / exp_dir.name


def _branch_keys(state: dict, modules: tuple[str, ...]) -> dict:
    return {k: v for k, v in state.items() if k.split(".", 1)[0] in modules}


def init_branches(model: torch.nn.Module, conf: dict, exp_dir: str | Path, overrides: list[str] = ()) -> list[str]:
    """Copy each branch named in `model.init` from its source run's best.pt; return what was done."""
    init = init_dependencies(conf)
    if not init:
        return []
    branches = model.branch_modules() if hasattr(model, "branch_modules") else {}
    done, state = [], model.state_dict()
    for branch, name in init.items():
        where = f"model.init.{branch}: {name}"
        if branch not in branches:
            raise ValueError(f"{where}: model '{conf['model']['name']}' has no branch '{branch}' to initialise "
                             f"(it has: {', '.join(sorted(branches)) or 'none'})")
        src = source_exp_dir(exp_dir, name, overrides)
        if not (src / "train_summary.json").is_file():
            raise ValueError(f"{where}: {src} has not finished training (no train_summary.json); train "
                             f"{name} on this fold first (stage 3 runs configs named by model.init before "
                             f"the configs that name them)")
        src_conf = yaml.safe_load((src / "config.yaml").read_text(encoding="utf-8"))
        if src_conf["inputs"].get(branch) != conf["inputs"].get(branch):
            raise ValueError(f"{where}: {src} read inputs.{branch} = {src_conf['inputs'].get(branch)!r}, this "
                             f"config reads {conf['inputs'].get(branch)!r}: a branch is only reused on the same input")
        source = load_checkpoint(src / "best.pt", remedy=f"retrain {name} on this fold")["model"]
        wanted, given = _branch_keys(state, branches[branch]), _branch_keys(source, branches[branch])
        if set(wanted) != set(given):
            diff = sorted(set(wanted) ^ set(given))
            raise ValueError(f"{where}: {src}/best.pt has a different '{branch}' branch (parameters differ, e.g. "
                             f"{diff[0]}): give both configs the same branch settings")
        for k, v in given.items():
            if v.shape != wanted[k].shape:
                raise ValueError(f"{where}: {src}/best.pt has {k} of shape {tuple(v.shape)}, this model "
                                 f"{tuple(wanted[k].shape)}: give both configs the same branch settings")
            state[k] = v
        done.append(f"{branch} branch ({len(given)} tensors) from {src}/best.pt")
    model.load_state_dict(state)
    for line in done:
        log.info("initialised the %s", line)
    return done
