"""The demo recipe end to end at a tiny setting: real Whisper tiny.en and MiniLM, every stage."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mer.pretrained import is_complete, models_dir
from mer.metrics import score
from tests.helpers.recipes import copy_recipe, run_recipe

pytestmark = pytest.mark.slow  # runs a whole recipe

CONFIGS = ["conf/tuning/train_text_only.yaml", "conf/tuning/train_audio_only.yaml",
           "conf/tuning/train_memocmt_min.yaml", "conf/tuning/train_memocmt_faithful_min.yaml",
           "conf/tuning/train_audio_finetune.yaml"]  # the last fine-tunes Whisper on raw audio
PROBES = "whisper_l2:whisper:2"  # a combiner, scored and plotted like the trained configs


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    for name in ("whisper-tiny.en", "minilm"):
        if not is_complete(models_dir() / name):
            pytest.skip(f"{models_dir() / name} is not prepared: run tools/install.sh")
    recipe = copy_recipe(tmp_path_factory.mktemp("mini"), "mini/memocmt")
    # The recipe's own conf/feats.yaml (Whisper at each utterance's length) and --train_nj 2 (run.sh's):
    # the five trainings go as one job array, two at a time.
    run_recipe(recipe, "--local_data_opts", "--utts_per_speaker 8",
               "--train_configs", " ".join(CONFIGS), "--probes", PROBES, "--train_args", "train.epochs=2",
               timeout=1500)
    return recipe


def test_every_stage_leaves_its_outputs(demo):
    exp = demo / "exp/fixed"
    for tag in ("train_text_only_train.epochs2", "train_memocmt_min_train.epochs2",
                "train_memocmt_faithful_min_train.epochs2", "train_audio_only_train.epochs2",
                "train_audio_finetune_train.epochs2"):
        fold = exp / tag / "fold1"
        for name in ("config.yaml", "best.pt", "checkpoint.pt", "train.log"):
            assert (fold / name).is_file(), fold / name
        for name in ("utt2pred", "posteriors.scp", "embeddings.scp", "utt2emo", "meta.json", "scores.json"):
            assert (fold / "decode_test" / name).is_file(), name
        assert json.loads((exp / tag / "scores_test.json").read_text())["num_folds"] == 1
        # every config that learns a mix of Whisper's layers gets its layer-weight figure
        kinds = ("confusion", "roc", "tsne") + (() if tag.startswith("train_text_only") else ("layer_weights",))
        assert sorted(p.name for p in (exp / tag / "plots").iterdir()) == sorted(
            f"fixed_{tag}_pooled_test_{kind}.png" for kind in kinds)
    assert (exp / "plots_test" / "tsne_side_by_side.png").is_file()
    finetune = json.loads((exp / "train_audio_finetune_train.epochs2/fold1/decode_test/meta.json").read_text())
    assert finetune["inputs"]["audio"]["type"] == "waveform"  # read from wav.scp, nothing dumped
    probe = json.loads((exp / "probe_whisper_l2/fold1/decode_test/scores.json").read_text())
    assert probe["system"] == "linear_probe" and (exp / "probe_whisper_l2/plots").is_dir()
    assert (demo / "dump/whisper/feats.scp").is_file() and (demo / "dump/minilm/feats.scp").is_file()
    # stage 3 ran one job array over the 5 (config, fold) pairs, each job's output in its exp dir
    jobs = sorted(exp.glob(".train_jobs.*/job.*.sh"))  # the run's own job dir
    assert len(jobs) == len(CONFIGS) and "export OMP_NUM_THREADS=" in jobs[0].read_text()
    assert len(list(exp.glob(".infer_jobs.*/job.*.sh"))) == len(CONFIGS)  # stage 4 likewise


def test_results_md_rows_and_recomputed_scores(demo):
    results = (demo / "RESULTS.md").read_text()
    rows = [ln for ln in results.splitlines() if ln.startswith("| train_")]
    assert len(rows) == 2 * len(CONFIGS)  # per-fold-mean table and pooled table
    assert sum("| probe_whisper_l2 |" in ln for ln in results.splitlines()) == 2
    assert all("| fixed |" in r for r in rows)
    for decode in (demo / "exp/fixed").glob("*/fold1/decode_test"):
        pred = dict(ln.split() for ln in (decode / "utt2pred").read_text().splitlines())
        ref = dict(ln.split() for ln in (decode / "utt2emo").read_text().splitlines())
        labels = (decode / "classes").read_text().split()
        utts = sorted(ref)
        again = score([ref[u] for u in utts], [pred[u] for u in utts], labels=labels)
        saved = json.loads((decode / "scores.json").read_text())
        for key in ("wa", "ua", "macro_f1", "weighted_f1"):
            assert abs(again[key] - saved[key]) < 1e-9


def test_rerunning_a_stage_keeps_finished_work(demo):
    best = demo / "exp/fixed/train_text_only_train.epochs2/fold1/best.pt"
    before = best.stat().st_mtime_ns
    proc = run_recipe(demo, "--stage", "3", "--stop_stage", "3", "--train_configs", CONFIGS[0],
                      "--train_args", "train.epochs=2")
    assert "already trained, skipping" in proc.stderr
    assert best.stat().st_mtime_ns == before


def test_rerunning_scoring_with_the_same_results_leaves_results_md_as_it_was(demo):
    # the demo's RESULTS.md is tracked: a rerun that reproduces it must leave `git status` clean
    results = demo / "RESULTS.md"
    before, mtime = results.read_bytes(), results.stat().st_mtime_ns
    proc = run_recipe(demo, "--stage", "5", "--stop_stage", "5", "--train_configs", " ".join(CONFIGS),
                      "--probes", PROBES, "--train_args", "train.epochs=2")
    assert "RESULTS.md: unchanged" in proc.stdout + proc.stderr
    assert results.read_bytes() == before and results.stat().st_mtime_ns == mtime


def test_inference_overrides_get_their_own_decode_dirs_and_results(demo):
    # emo.sh --infer_args/--infer_tag: the same trained model decoded with another input source
    # (here the same dump under an explicit override: what is checked is where everything lands)
    config = "conf/tuning/train_text_only.yaml"
    run_recipe(demo, "--stage", "4", "--train_configs", config, "--train_args", "train.epochs=2",
               "--infer_args", "inputs.text=minilm", "--infer_tag", "again")
    exp = demo / "exp/fixed/train_text_only_train.epochs2"
    meta = json.loads((exp / "fold1/decode_test_again/meta.json").read_text())
    assert meta["input_overrides"] == ["inputs.text=minilm"] and meta["test_set"] == "test_again"
    assert (exp / "fold1/decode_test/meta.json").is_file()  # the plain decode stays as it was
    assert json.loads((exp / "scores_test_again.json").read_text())["num_folds"] == 1
    assert "## Test set `test_again`" in (demo / "RESULTS.md").read_text()
    assert (exp / "plots/fixed_train_text_only_train.epochs2_pooled_test_again_confusion.png").is_file()


def test_final_model_trains_on_every_speaker_for_the_folds_epochs_and_is_packed(demo):
    import torch

    from mer.data.datadir import DataDir
    from mer.recognizer import Recognizer

    config, tag = CONFIGS[2], "train_memocmt_min_train.epochs2"
    proc = run_recipe(demo, "--stage", "7", "--stop_stage", "7", "--final", "true", "--train_configs", config,
                      "--train_args", "train.epochs=2")
    final = demo / "exp/final" / tag
    fold_best = json.loads((demo / "exp/fixed" / tag / "fold1/train_summary.json").read_text())["best"]["epoch"]
    summary = json.loads((final / "train_summary.json").read_text())
    assert summary["epochs_run"] == fold_best  # the fold's kept epoch (one fold: the median is that)
    log = (final / "train.log").read_text()
    assert "valid(in train)" in log and "inside the training data" in log and not any(
        ln.endswith(" *") for ln in log.splitlines())
    # every speaker of the corpus was trained on, the test speakers of fold 1 among them
    assert f"; {len(DataDir.load(demo / 'data/all'))} train / " in log
    state = torch.load(final / "best.pt", weights_only=True)
    assert state["epoch"] == fold_best
    assert (final / "model.tar.gz").is_file() and "trained on every speaker" in proc.stderr
    test = DataDir.load(demo / "data/fixed/fold1/test")
    utt = test.utts[0]
    recognizer = Recognizer.from_pretrained(final / "model.tar.gz")
    result = recognizer(test.wav_scp[utt], text=test.text[utt])
    assert result["label"] in recognizer.classes
    # a second run keeps the packed model
    again = run_recipe(demo, "--stage", "7", "--stop_stage", "7", "--final", "true", "--train_configs", config,
                       "--train_args", "train.epochs=2")
    assert "model.tar.gz exists, skipping" in again.stderr
