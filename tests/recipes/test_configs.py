"""Every recipe config loads, and its model builds (a dry run, as ESPnet CI does for its yaml)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mer.features import feature_types
from mer.models import build_model, model_input_names
from mer.train.config import load_config
from mer.inputs import InputInfo, normalize_input_spec

from tests.helpers import REPO

CONFIGS = sorted(REPO.glob("egs/*/*/conf/tuning/*.yaml"))
FEATS = sorted(REPO.glob("egs/*/*/conf/feats.yaml"))


def _local(model: str) -> bool:
    from mer.pretrained import resolve_model

    return Path(str(resolve_model(model))).is_dir()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "egs")))
def test_training_config_builds(config, request):
    conf = load_config(config)
    recipe = config.parents[2]
    dumps = yaml.safe_load((recipe / "conf/feats.yaml").read_text())
    infos, needs_hub = {}, []
    for name in model_input_names(conf["model"]):
        assert name in conf["inputs"], f"the model reads '{name}' but inputs: does not declare it"
        spec = normalize_input_spec(name, conf["inputs"][name])
        if spec["type"] == "dump":
            assert spec["name"] in dumps, f"inputs.{name} names no dump of conf/feats.yaml"
            infos[name] = InputInfo("dump", 32, 3)
        else:
            if spec.get("dump"):  # a transcription dump (text input): written by this recipe's stage 2
                assert spec["dump"] in dumps, f"inputs.{name}.dump names no dump of conf/feats.yaml"
            encoder = conf["model"]["encoders"][name]["model"]
            needs_hub += [] if _local(encoder) else [encoder]
            infos[name] = InputInfo(spec["type"])
    if needs_hub:
        # The hub is out of reach: the build reads tiny random stand-ins of the same transformers
        # classes from a hub cache (tools/make_tiny_hub_models.py), by the config's own hub id.
        request.getfixturevalue("tiny_hub_env")
    model = build_model(conf["model"], 4, infos)
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("feats", FEATS, ids=lambda p: str(p.relative_to(REPO / "egs")))
def test_feats_config_entries_are_dump_options(feats):
    from mer.bin.dump_feats import get_parser

    known = {a.dest for a in get_parser()._actions}
    for name, opts in yaml.safe_load(feats.read_text()).items():
        assert opts["feature"] in (*feature_types(), "asr"), name  # asr: a transcription dump
        assert set(opts) <= known, f"{name}: unknown options {set(opts) - known}"


def test_every_recipe_links_the_one_cmd_sh_and_a_local_file_overrides_it(tmp_path):
    # One cmd.sh for every recipe (as db.sh): a site changes it through a git-ignored cmd_local.sh.
    template = (REPO / "egs/TEMPLATE/emo1/cmd.sh").resolve()
    recipes = sorted(p.parent for p in REPO.glob("egs/*/*/run.sh") if p.parent.parent.name != "TEMPLATE")
    assert len(recipes) >= 6
    assert [r for r in recipes if (r / "cmd.sh").resolve() != template or not (r / "cmd.sh").is_symlink()] == []
    show = ". ./cmd.sh && echo \"$feats_cmd|$cuda_cmd\""
    (tmp_path / "cmd.sh").symlink_to(template)
    plain = subprocess.run(["bash", "-c", show], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert plain.stdout.strip() == "utils/local_cmd.sh|utils/local_cmd.sh"
    (tmp_path / "cmd_local.sh").write_text('cuda_cmd="utils/slurm_cmd.sh --mem 32G"\n')
    local = subprocess.run(["bash", "-c", show], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert local.stdout.strip() == "utils/local_cmd.sh|utils/slurm_cmd.sh --mem 32G"


# The papers' LOSO recipes train on every speaker outside the test fold (the held-out form is the
# `_heldout` config); System D's text stream reads the ASR hypotheses unless the config says `_reftext`.
FITS_ON_ALL = ("iemocap/memocmt", "esd/memocmt", "iemocap/mf_la")


@pytest.mark.parametrize("recipe", FITS_ON_ALL + ("meld/memocmt",))
def test_paper_recipes_train_as_the_papers(recipe):
    configs = sorted((REPO / "egs" / recipe / "conf/tuning").glob("train_*.yaml"))
    assert configs
    for path in configs:
        conf = load_config(path)
        train = conf["train"]
        if recipe in FITS_ON_ALL and not path.stem.endswith("_heldout"):
            assert (train["fit_on"], train["best_metric"]) == ("train+valid", "last"), path.name
        else:  # MELD: dev validates, as the paper; held-out forms choose on the valid part
            assert train["fit_on"] == "train" and train["best_metric"] != "last", path.name
        text = conf["inputs"].get("text")
        if recipe == "iemocap/mf_la" and text is not None:
            wanted = None if path.stem.endswith("_reftext") else "asr_whisper"
            assert normalize_input_spec("text", text).get("dump") == wanted, path.name


def test_hub_speech_encoder_follows_its_checkpoints_normalisation(tiny_hub_env):
    # The stand-ins keep the real checkpoints' feature-extractor settings: WavLM base does not
    # normalise the waveform, wav2vec 2.0 base does. A hub id (not a local dir) must be read too.
    from mer.models.streams import SpeechEncoderStream

    assert SpeechEncoderStream("speech", "microsoft/wavlm-base").normalize_waveform is False
    assert SpeechEncoderStream("speech", "facebook/wav2vec2-base").normalize_waveform is True


def test_fine_tuned_ssl_encoder_trains_on_a_batch_shorter_than_one_time_mask(tiny_hub_env):
    # WavLM base fine-tunes with SpecAugment time masks of 10 frames (0.2 s); a batch of 0.15 s
    # clips is shorter than one mask, which transformers refuses: that batch goes unmasked.
    import torch

    from mer.models.streams import SpeechEncoderStream

    stream = SpeechEncoderStream("speech", "microsoft/wavlm-base", layers="last").train()
    assert stream.encoder.config.mask_time_length == 10 and stream.encoder.config.mask_time_prob > 0
    wav = torch.randn(2, 2400)
    x, mask = stream({"speech": wav, "speech_lengths": torch.tensor([2400, 2000])})
    x.sum().backward()
    assert x.shape[:2] == mask.shape and mask.sum(1).tolist() == [7, 6]
    long_batch = stream._no_time_masks_if_short(torch.randn(2, 16000))
    assert long_batch == {}  # a second of audio keeps its SpecAugment
