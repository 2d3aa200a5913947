"""System B's training set-up: time-based learning-rate decay, batches that count utterances while
keeping dialogues whole, and the two-step training (text module first, then the fusion model from
it: `model.init`, resolved per fold, ordered by emo.sh's stage 3 also with --train_nj N)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from mer.models import build_model, model_input_names
from mer.pretrained import is_complete, models_dir
from mer.train.config import load_config
from mer.inputs import BucketBatchSampler, InputInfo
from mer.train.init_from import init_branches, source_exp_dir
from mer.train.trainer import LRSchedule, build_optimizer
from tests.helpers.recipes import copy_recipe, run_recipe


# ------------------------------------------------------------------ time-based decay
def test_time_decay_gives_lr0_over_one_plus_d_k_at_step_k():
    model = torch.nn.Linear(3, 2)
    opt = build_optimizer(model, {"name": "adam", "lr": 5e-4, "betas": [0.9, 0.999], "eps": 1e-8,
                                  "weight_decay": 1e-4})
    sched = LRSchedule({"name": "time_decay", "decay": 1e-4}, epochs=300)
    seen = []
    for k in range(0, 30001, 2500):
        sched.apply(opt, step=k, epoch=1 + k // 300)  # the epoch plays no part
        seen.append((k, opt.param_groups[0]["lr"]))
    for k, lr in seen:
        assert lr == pytest.approx(5e-4 / (1 + 1e-4 * k), rel=1e-12)
    assert seen[-1][1] == pytest.approx(5e-4 / 4)  # step 30,000: a quarter of lr0
    lrs = [lr for _, lr in seen]
    assert lrs == sorted(lrs, reverse=True) and len(set(lrs)) == len(lrs)


def test_trainer_steps_follow_the_decay(tmp_path):
    """The rate the trainer sets before optimiser step k (counted from 0) is lr0 / (1 + d k)."""
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, {"name": "adam", "lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8,
                                  "weight_decay": 0.0})
    sched, used = LRSchedule({"name": "time_decay", "decay": 0.5}), []
    for step in range(4):
        sched.apply(opt, step, epoch=1)
        used.append(opt.param_groups[0]["lr"])
        model(torch.ones(1, 2)).sum().backward()
        opt.step()
        opt.zero_grad()
    assert used == pytest.approx([1e-2, 1e-2 / 1.5, 1e-2 / 2, 1e-2 / 2.5])


def test_time_decay_in_a_config_is_checked(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text("model: {name: cnn_attn}\nscheduler: {name: time_decay, decay: 1e-4}\n")
    assert load_config(conf)["scheduler"]["decay"] == pytest.approx(1e-4)  # YAML 1.1's string 1e-4
    conf.write_text("model: {name: cnn_attn}\nscheduler: {name: time_decay, decay: -1.0}\n")
    with pytest.raises(ValueError, match="scheduler.decay must be >= 0"):
        load_config(conf)
    conf.write_text("model: {name: cnn_attn}\ntrain: {batch_counts: frames}\n")
    with pytest.raises(ValueError, match="train.batch_counts must be 'samples' | 'utterances'"):
        load_config(conf)


# ------------------------------------------------------------------ batches of utterances
def test_utterance_batches_keep_dialogues_whole_and_stay_within_the_size():
    turns = [3, 7, 1, 12, 5, 5, 40, 2, 9, 9, 30, 1, 6]  # dialogues of this many utterances
    for bucketing in (False, True):
        sampler = BucketBatchSampler(turns, 32, shuffle=True, bucketing=bucketing, seed=3, sizes=turns)
        for epoch in (1, 2):
            sampler.set_epoch(epoch)
            batches = sampler.global_batches()
            assert sorted(i for b in batches for i in b) == list(range(len(turns)))  # each dialogue once
            for b in batches:
                n = sum(turns[i] for i in b)
                assert n <= 32 or len(b) == 1, (b, n)  # 40 turns: a batch of its own, never cut
            assert [b for b in batches if sum(turns[i] for i in b) > 32] == [[6]]
    in_order = BucketBatchSampler(turns, 32, shuffle=False, bucketing=False, sizes=turns).global_batches()
    assert [i for b in in_order for i in b] == list(range(len(turns)))
    for b, following in zip(in_order, in_order[1:]):  # each batch closed only when the next would not fit
        assert sum(turns[i] for i in b) + turns[following[0]] > 32
    by_samples = BucketBatchSampler(turns, 4, shuffle=False, bucketing=False).global_batches()
    assert [len(b) for b in by_samples] == [4, 4, 4, 1]  # without sizes: batch_size counts samples


# ------------------------------------------------------------------ model.init
def _infos():
    return {"speech": InputInfo("dump", dim=20), "text": InputInfo("dump", dim=12, num_layers=2)}


def _model(conf):
    torch.manual_seed(len(conf["modalities"]))
    full = {"name": "cnn_attn", **conf}
    return build_model(full, 4, {k: _infos()[k] for k in model_input_names(full)})


def _finished_run(exp: Path, model, inputs: dict) -> None:
    exp.mkdir(parents=True)
    torch.save({"epoch": 3, "model": model.state_dict()}, exp / "best.pt")
    (exp / "config.yaml").write_text(yaml.safe_dump({"inputs": inputs}))
    (exp / "train_summary.json").write_text(json.dumps({"best": {"epoch": 3}}))


def test_init_copies_the_text_branch_of_the_same_fold_and_nothing_else(tmp_path):
    text = _model({"modalities": ["text"]})
    _finished_run(tmp_path / "exp/resplit/train_text_first_train.epochs2/fold1", text, {"text": "bert"})
    fusion = _model({"modalities": ["speech", "text"]})
    before = {k: v.clone() for k, v in fusion.state_dict().items()}
    conf = {"model": {"name": "cnn_attn", "init": {"text": "train_text_first"}},
            "inputs": {"speech": "logmel", "text": "bert"}}
    exp = tmp_path / "exp/resplit/train_fusion_train.epochs2/fold1"
    assert source_exp_dir(exp, "train_text_first", ["train.epochs=2"]) == \
        tmp_path / "exp/resplit/train_text_first_train.epochs2/fold1"
    done = init_branches(fusion, conf, exp, ["train.epochs=2"])
    assert len(done) == 1 and "text branch" in done[0]
    after, src = fusion.state_dict(), text.state_dict()
    copied = [k for k in after if k.split(".")[0] in ("text", "text_fc", "gru", "text_proj")]
    assert copied and all(torch.equal(after[k], src[k]) for k in copied)
    assert any(not torch.equal(before[k], src[k]) for k in copied)  # it did change something
    rest = [k for k in after if k not in copied]
    assert any(k.startswith("cnn.") for k in rest) and any(k.startswith("head.") for k in rest)
    assert all(torch.equal(after[k], before[k]) for k in rest)  # speech branch, fusion and head untouched


def test_init_refuses_unfinished_mismatched_or_other_input_runs(tmp_path):
    fusion = _model({"modalities": ["speech", "text"]})
    conf = {"model": {"name": "cnn_attn", "init": {"text": "train_text_first"}},
            "inputs": {"speech": "logmel", "text": "bert"}}
    exp = tmp_path / "exp/p/train_fusion/fold2"
    src = tmp_path / "exp/p/train_text_first/fold2"
    with pytest.raises(ValueError, match="has not finished training.*train_text_first"):
        init_branches(fusion, conf, exp)
    _finished_run(src, _model({"modalities": ["text"], "context": "causal"}), {"text": "bert"})
    with pytest.raises(ValueError, match="different 'text' branch|of shape"):
        init_branches(fusion, conf, exp)
    (src / "config.yaml").write_text(yaml.safe_dump({"inputs": {"text": "minilm"}}))
    with pytest.raises(ValueError, match="inputs.text"):
        init_branches(fusion, conf, exp)
    with pytest.raises(ValueError, match="no branch 'speech'"):
        init_branches(_model({"modalities": ["text"]}), {**conf, "model": {"name": "cnn_attn",
                                                                            "init": {"speech": "x"}}}, exp)


# ------------------------------------------------------------------ emo.sh: the order of stage 3
@pytest.fixture(scope="module")
def two_step(tmp_path_factory) -> Path:
    if not is_complete(models_dir() / "minilm"):
        pytest.skip(f"{models_dir() / 'minilm'} is not prepared: run tools/install.sh")
    recipe = copy_recipe(tmp_path_factory.mktemp("two_step"), "mini/cnn_attn")
    tuning = recipe / "conf/tuning"
    text = yaml.safe_load((tuning / "train_text_only.yaml").read_text())
    text["scheduler"] = {"name": "time_decay", "decay": 1.0e-4}
    text["train"].update(batch_size=30, batch_counts="utterances")
    (tuning / "train_text_first.yaml").write_text(yaml.safe_dump(text))
    fusion = yaml.safe_load((tuning / "train_cnn_attn.yaml").read_text())
    fusion["model"]["init"] = {"text": "train_text_first"}
    fusion["scheduler"] = {"name": "time_decay", "decay": 1.0e-4}
    fusion["train"].update(batch_size=32, batch_counts="utterances")
    (tuning / "train_fusion_from_text.yaml").write_text(yaml.safe_dump(fusion))
    # the dependent config first, two trainings at a time: stage 3 must still train the text run first
    run_recipe(recipe, "--stop_stage", "3", "--local_data_opts", "--utts_per_speaker 8", "--train_nj", "2",
               "--train_configs", "conf/tuning/train_fusion_from_text.yaml conf/tuning/train_text_first.yaml",
               "--train_args", "train.epochs=2", timeout=900)
    return recipe


@pytest.mark.slow
def test_stage_3_trains_the_named_run_first_and_starts_from_it(two_step):
    root = two_step / "exp/fixed"
    text, fusion = root / "train_text_first_train.epochs2/fold1", root / "train_fusion_from_text_train.epochs2/fold1"
    assert (text / "train_summary.json").is_file() and (fusion / "train_summary.json").is_file()
    log = (fusion / "train.log").read_text()
    assert "initialised the text branch" in log and str((text / "best.pt").relative_to(two_step)) in log
    assert (text / "train_summary.json").stat().st_mtime <= (fusion / "config.yaml").stat().st_mtime
    saved = yaml.safe_load((fusion / "config.yaml").read_text())
    assert saved["model"]["init"] == {"text": "train_text_first"}
    assert saved["scheduler"]["name"] == "time_decay" and saved["train"]["batch_counts"] == "utterances"
    # the rate decays step by step: below lr0 once a step has been taken, and lower each epoch
    lrs = [h["lr"] for h in json.loads((fusion / "history.json").read_text())]
    assert lrs[-1] < 5e-4 and lrs == sorted(lrs, reverse=True)


@pytest.mark.slow
def test_stage_3_refuses_a_config_whose_init_run_is_missing(two_step):
    proc = run_recipe(two_step, "--stage", "3", "--stop_stage", "3", "--expdir", "exp_alone",
                      "--train_configs", "conf/tuning/train_fusion_from_text.yaml",
                      "--train_args", "train.epochs=2", check=False, timeout=300)
    assert proc.returncode != 0
    assert "train_text_first_train.epochs2 (model.init), which is neither trained" in proc.stderr
    assert not list((two_step / "exp_alone").glob("*/*/fold1/train_summary.json"))
