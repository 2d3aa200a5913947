"""Stage 3 with --num_nodes: each (config, fold) is one job of N nodes through cmd.sh's cuda_cmd,
whose command runs one srun step of torchrun agents (Slurm stood in for: tests/helpers/slurm.py)."""
from __future__ import annotations

import pytest

from tests.helpers.recipes import copy_recipe, run_recipe
from tests.helpers.slurm import first_node, recorded, slurm_stand_ins, split_srun

pytestmark = pytest.mark.slow  # runs a recipe (no training: srun is a stand-in)


def test_num_nodes_trains_each_config_and_fold_as_one_allocation(tmp_path):
    recipe = copy_recipe(tmp_path, "mini/memocmt")
    for part in ("train", "valid"):
        (recipe / "data/fixed/fold1" / part).mkdir(parents=True)
    env = {**slurm_stand_ins(tmp_path), "MER_CMD_BACKEND": "slurm"}
    run_recipe(recipe, "--stage", "3", "--stop_stage", "3", "--train_configs", "conf/tuning/train_text_only.yaml",
               "--num_nodes", "2", "--ngpu", "2", env=env, timeout=300)
    sbatch = " ".join(recorded(tmp_path, "sbatch"))
    assert "--nodes 2 --ntasks-per-node 1" in sbatch and "--gres=gpu:2" in sbatch
    flags, torchrun, rest = split_srun(recorded(tmp_path, "srun"))
    assert {"--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--gres=gpu:2"} <= set(flags)
    assert torchrun["--nnodes"] == "2" and torchrun["--nproc-per-node"] == "2"
    assert torchrun["--rdzv-backend"] == "c10d" and torchrun["--rdzv-endpoint"].startswith(first_node() + ":")
    assert rest[:2] == ["-m", "mer.bin.train"]
    assert rest[rest.index("--exp-dir") + 1] == "exp/fixed/train_text_only/fold1"
    assert rest[rest.index("--device") + 1] == "cuda"
