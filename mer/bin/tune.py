"""Hyper-parameter search with Optuna for one training config, on the validation set only.

Usage:
  python -m mer.bin.tune --config conf/tuning/train_text.yaml --space conf/tune/space.yaml \
      --train-dir data/si/fold1/train --valid-dir data/si/fold1/valid --dumpdir dump \
      --study-dir exp/si/tune/train_text [--labels data/all/labels] [--n-trials 20] [--device cpu]

The space is a YAML mapping of config keys (dotted, as `--override`) to distributions:

    optim.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    model.lstm_hidden: {type: categorical, choices: [64, 128, 256]}
    model.dropout: {type: float, low: 0.0, high: 0.5}
    train.epochs: {type: int, low: 10, high: 40, step: 10}

Each trial trains `mer.bin.train` with the sampled overrides into STUDY_DIR/trial<N> and returns
its best validation value of `train.best_metric` (the test set is never read). The study lives in
STUDY_DIR/study.db (SQLite), so a killed search continues where it stopped: `--n-trials` is the
total wanted, finished trials count. Writes STUDY_DIR/best.yaml (the config with the best trial's
values, ready for `--train_configs`) and STUDY_DIR/trials.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import yaml

from mer.train.config import load_config, lower_is_better, save_config
from mer.utils.cli import run_main
from mer.utils.fileio import write_json_atomic
from mer.warm import command_python

KINDS = ("float", "int", "categorical")


def load_space(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        space = yaml.safe_load(f) or {}
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{path}: a search space is a non-empty mapping of config keys to distributions")
    for key, dist in space.items():
        if not isinstance(dist, dict) or dist.get("type") not in KINDS:
            raise ValueError(f"{path}: {key}: needs type: one of {KINDS}")
        need = ("choices",) if dist["type"] == "categorical" else ("low", "high")
        absent = [k for k in need if k not in dist]
        if absent:
            raise ValueError(f"{path}: {key}: missing {', '.join(absent)}")
    return space


def suggest(trial, space: dict) -> dict:
    values = {}
    for key, d in space.items():
        if d["type"] == "float":
            values[key] = trial.suggest_float(key, float(d["low"]), float(d["high"]), log=bool(d.get("log", False)))
        elif d["type"] == "int":
            values[key] = trial.suggest_int(key, int(d["low"]), int(d["high"]), step=int(d.get("step", 1)),
                                            log=bool(d.get("log", False)))
        else:
            values[key] = trial.suggest_categorical(key, list(d["choices"]))
    return values


def overrides(values: dict) -> list[str]:
    return [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in values.items()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--space", required=True, help="YAML search space (see above)")
    p.add_argument("--train-dir", required=True)
    p.add_argument("--valid-dir", required=True)
    p.add_argument("--dumpdir", default="dump")
    p.add_argument("--study-dir", required=True)
    p.add_argument("--labels")
    p.add_argument("--n-trials", type=int, default=20, help="total trials wanted (finished ones count)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler (TPE)")
    p.add_argument("--override", action="append", default=[], help="fixed overrides for every trial")
    args = p.parse_args(argv)
    import optuna

    space = load_space(args.space)
    base = load_config(args.config, args.override)
    metric = base["train"]["best_metric"]
    study_dir = Path(args.study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name=Path(args.config).stem, storage=f"sqlite:///{study_dir.resolve()}/study.db",
                                load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=args.seed),
                                direction="minimize" if lower_is_better(metric) else "maximize")

    def objective(trial) -> float:
        values = suggest(trial, space)
        exp = study_dir / f"trial{trial.number}"
        cmd = [command_python(), "-m", "mer.bin.train", "--config", args.config, "--train-dir", args.train_dir,
               "--valid-dir", args.valid_dir, "--dumpdir", args.dumpdir, "--exp-dir", str(exp),
               "--device", args.device, *(["--labels", args.labels] if args.labels else [])]
        for o in [*args.override, *overrides(values)]:
            cmd += ["--override", o]
        if subprocess.run(cmd).returncode != 0:
            raise RuntimeError(f"trial {trial.number} failed: see {exp}/train.log")
        best = json.loads((exp / "train_summary.json").read_text())["best"]
        return float(best["value"])

    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if done < args.n_trials:
        study.optimize(objective, n_trials=args.n_trials - done, catch=(RuntimeError,))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    write_json_atomic(study_dir / "trials.json", [{"number": t.number, "value": t.value, "params": t.params,
                                                    "state": t.state.name} for t in study.trials])
    if not complete:
        raise ValueError(f"no trial of {study_dir} finished")
    best = study.best_trial
    save_config(load_config(args.config, [*args.override, *overrides(best.params)]), study_dir / "best.yaml")
    print(f"best trial {best.number}: valid {metric} {best.value:.4f} with {best.params}; "
          f"config: {study_dir / 'best.yaml'}")
    return 0


if __name__ == "__main__":
    run_main(main, "tune", (ValueError, FileNotFoundError))
