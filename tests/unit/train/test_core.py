"""The core's contract for every system: label maps, dialogue batches, named inputs of any type,
raw-waveform fine-tuning, extra outputs, decode dirs without embeddings, and combiners."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from mer.data.datadir import DataDir
from mer.models import build_model, model_input_names
from mer.models.abs_model import MODEL_CLASSES, AbsEmotionModel, ModelOutput, register_model
from mer.scoring.decode_dir import load_decode_dir, write_decode_dir
from mer.train.config import load_config
from mer.inputs import DumpInput, EmotionDataset, FeatureDump, InputInfo, LabelMap, collate, open_inputs
from mer.train.dist import init_distributed
from mer.inference import predict
from mer.train.trainer import LRSchedule, Trainer
from tests.helpers.models import speech_batch
from tests.helpers.training import ENV, LABELS, make_corpus, probe_command, run, train_cmd, write_config


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = make_corpus(tmp_path_factory.mktemp("core"))
    # Dialogues of 5 turns per speaker; turn numbers run backwards so that order comes from
    # utt2turn, not from the utterance ids.
    for part in ("all", "train", "valid", "test"):
        d = DataDir.load(root / "data" / part)
        d.extra["utt2dialog"] = {u: f"{u.split('-')[0]}-d{int(u.split('-')[1]) // 5}" for u in d.utts}
        d.extra["utt2turn"] = {u: str(4 - int(u.split("-")[1]) % 5) for u in d.utts}
        d.save(root / "data" / part)
    return root


def dump_inputs(root: Path, names=("audio", "text")) -> dict:
    return {n: DumpInput(n, FeatureDump(root / "dump" / n)) for n in names}


# ------------------------------------------------------------------ label maps

def test_label_map_and_classes():
    m = LabelMap({"map": {"ang": "emotional", "hap": "emotional", "sad": "emotional", "neu": "neutral"}}, LABELS)
    assert m.classes == ["emotional", "neutral"]
    assert m.index("hap") == 0 and m.index("neu") == 1 and m.index(None) == -1 and m.index("fru") == -1
    sub = LabelMap({"classes": ["ang", "hap", "sad"]}, LABELS)
    assert sub.index("neu") == -1 and sub.index("sad") == 2
    with pytest.raises(ValueError, match="unknown key"):
        LabelMap({"mapping": {}}, LABELS)


@pytest.mark.slow
def test_mapped_and_subset_models_train_decode_and_score(corpus, tmp_path):
    two = write_config(tmp_path / "two.yaml", epochs=2, extra="labels: {map: {ang: emo, hap: emo, sad: emo}}\n")
    run(train_cmd(corpus, two, "exp/two"))
    assert (corpus / "exp/two/classes").read_text().split() == ["emo", "neu"]
    three = write_config(tmp_path / "three.yaml", epochs=2, extra="labels: {classes: [ang, hap, sad]}\n")
    run(train_cmd(corpus, three, "exp/three"))
    for exp in ("two", "three"):
        out = corpus / f"exp/{exp}/decode_test"
        run([sys.executable, "-m", "mer.bin.infer", "--exp-dir", str(corpus / f"exp/{exp}"), "--data-dir",
             str(corpus / "data/test"), "--dumpdir", str(corpus / "dump"), "--out", str(out), "--protocol", "fixed",
             "--fold", "1"])
        run([sys.executable, "-m", "mer.bin.score", str(out)])
    refs = dict(ln.split() for ln in (corpus / "exp/two/decode_test/utt2emo").read_text().splitlines())
    assert set(refs.values()) == {"emo", "neu"} and len(refs) == 20
    # the 3-class model decodes every test utterance (a combiner may route any of them to it),
    # but scores only the 15 inside its label set
    three_out = corpus / "exp/three/decode_test"
    assert len((three_out / "utt2pred").read_text().splitlines()) == 20
    scores = json.loads((three_out / "scores.json").read_text())
    assert scores["num_utts"] == 15 and scores["num_out_of_set"] == 5
    # and says so on the console, where a mistyped test label would otherwise vanish quietly
    shown = run([sys.executable, "-m", "mer.bin.score", str(three_out)]).stdout
    assert "15 utts" in shown and "(5 more decoded, not scored: reference outside classes)" in shown


# ------------------------------------------------------------------ dialogues

def test_dialogue_samples_keep_turn_order_and_context(corpus):
    inputs = dump_inputs(corpus)
    subset = LabelMap({"classes": ["ang", "hap", "sad"]}, LABELS)
    data = EmotionDataset(corpus / "data/train", subset, inputs, unit="dialogue")
    assert len(data) == 16  # 4 speakers x 4 dialogues of 5 turns
    first = data[0]
    assert [it["utt"] for it in first] == [f"spk0-{i:04d}" for i in (4, 3, 2, 1, 0)]
    neu = [it for it in first if it["utt"] == "spk0-0002"][0]  # label index 2 of ang/hap/neu/sad: neu
    assert neu["label"] == -1 and neu["weight"] == 0.0  # outside the label set: context only
    batch = collate([data[0], data[1]])
    assert batch["dialog_lengths"].tolist() == [5, 5] and batch["audio"].shape[0] == 10
    # with single utterances the same utterance is left out of training altogether
    flat = EmotionDataset(corpus / "data/train", subset, inputs)
    assert "spk0-0002" not in flat.utts and len(flat) == 60


@pytest.mark.slow
def test_dialogue_unit_trains_and_a_split_dialogue_is_refused(corpus, tmp_path):
    cfg = write_config(tmp_path / "dlg.yaml", epochs=2, batch_size=2, extra="")
    run(train_cmd(corpus, cfg, "exp/dlg", "--override", "train.unit=dialogue"))
    assert json.loads((corpus / "exp/dlg/train_summary.json").read_text())["epochs_run"] == 2
    # a fold whose test set holds a turn of a training dialogue
    fold = tmp_path / "fold1"
    for part in ("train", "valid", "test"):
        shutil.copytree(corpus / "data" / part, fold / part)
    test = DataDir.load(fold / "test")
    test.extra["utt2dialog"]["spk5-0000"] = "spk0-d0"
    test.save(fold / "test")
    cmd = train_cmd(corpus, cfg, "exp/dlg_bad", "--override", "train.unit=dialogue")
    cmd[cmd.index("--train-dir") + 1] = str(fold / "train")
    cmd[cmd.index("--valid-dir") + 1] = str(fold / "valid")
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 1 and "1 dialogue(s) of" in proc.stderr and "spk0-d0" in proc.stderr


class TurnContext(AbsEmotionModel):
    """A context model as system B needs: utterance vectors, a GRU over each dialogue's turns."""

    inputs = ("audio",)

    def __init__(self, num_classes, input_infos):
        super().__init__()
        dim = input_infos["audio"].dim * input_infos["audio"].num_layers
        self.gru = nn.GRU(dim, 8, batch_first=True, bidirectional=True)
        self.out = nn.Linear(16, num_classes)

    def forward(self, batch):
        x, n = batch["audio"], batch["audio_lengths"]
        mask = (torch.arange(x.shape[1])[None] < n[:, None]).unsqueeze(-1)
        utt = (x * mask).sum(1) / n[:, None]
        dialogs = torch.split(utt, batch["dialog_lengths"].tolist())
        padded = nn.utils.rnn.pad_sequence(list(dialogs), batch_first=True)
        h, _ = self.gru(padded)
        rows = torch.cat([h[i, :len(d)] for i, d in enumerate(dialogs)])
        gate = torch.sigmoid(rows[:, :1])
        return ModelOutput(self.out(rows), rows, extras={"gate": gate})


@pytest.mark.slow
def test_a_context_model_needs_nothing_special(corpus, tmp_path):
    if "test_turn_context" not in MODEL_CLASSES:
        register_model("test_turn_context")(TurnContext)
    conf = load_config(write_config(tmp_path / "c.yaml", epochs=3, batch_size=2),
                       ["model={name: test_turn_context}", "inputs={audio: audio}", "train.unit=dialogue"])
    label_map = LabelMap(None, LABELS)
    inputs = open_inputs(conf, corpus / "dump", model_input_names(conf["model"]))
    train, valid, test = (EmotionDataset(corpus / "data" / p, label_map, inputs, unit="dialogue", training=t)
                          for p, t in (("train", True), ("valid", True), ("test", False)))
    torch.manual_seed(0)
    model = build_model(conf["model"], 4, {k: s.info for k, s in inputs.items()})
    Trainer(conf, tmp_path / "exp", model, train, valid, LABELS, init_distributed("cpu")).fit()
    p = predict(model, test, torch.device("cpu"), 4)
    assert p["logits"].shape == (20, 4) and p["extras"]["gate"].shape == (20, 1)
    out = tmp_path / "exp/fixed/ctx/fold1/decode_test"
    write_decode_dir(out, p["utts"], LABELS, p["posteriors"].numpy(), None, meta={},
                     refs=test.data.utt2emo, extras={k: v.numpy() for k, v in p["extras"].items()})
    loaded = load_decode_dir(out)
    assert loaded.embeddings() is None  # a decode dir without embeddings is valid
    assert np.allclose(loaded.output("gate")[:, 0], p["extras"]["gate"][:, 0].numpy(), atol=1e-6)
    run([sys.executable, "-m", "mer.bin.score", str(out)])
    plots = subprocess.run([sys.executable, "-m", "mer.bin.plot", str(out), "--out", str(tmp_path / "plots")],
                           env=ENV, capture_output=True, text=True)
    assert plots.returncode == 0 and "no embeddings.scp" in plots.stderr


# ------------------------------------------------------------------ raw text, input overrides

@pytest.mark.slow
def test_raw_text_model_and_inference_on_other_text(corpus, tiny_bert, tmp_path):
    cfg = tmp_path / "text.yaml"
    cfg.write_text(f"""model: {{name: text_only, aggregation: mean, head_hidden: 16,
        encoders: {{text: {{model: {tiny_bert}, finetune: true, max_tokens: 16}}}}}}
inputs: {{text: {{type: text}}}}
optim: {{lr: 3.0e-3, encoder_lr: 1.0e-4}}
train: {{epochs: 2, batch_size: 8, bucketing: true, best_metric: ua}}
""")
    run(train_cmd(corpus, cfg, "exp/rawtext"))
    exp = corpus / "exp/rawtext"
    asr = tmp_path / "asr_text"  # "hypotheses" that swap every label word for another
    test = DataDir.load(corpus / "data/test")
    asr.write_text("".join(f"{u} words of {LABELS[(LABELS.index(t.split()[-1]) + 1) % 4]}\n"
                           for u, t in sorted(test.text.items())))
    infer = [sys.executable, "-m", "mer.bin.infer", "--exp-dir", str(exp), "--data-dir", str(corpus / "data/test"),
             "--dumpdir", str(corpus / "dump"), "--protocol", "fixed", "--fold", "1"]
    run([*infer, "--out", str(exp / "decode_ref")])
    run([*infer, "--out", str(exp / "decode_asr"), "--override", f"inputs.text={{type: text, file: {asr}}}"])
    meta = json.loads((exp / "decode_asr/meta.json").read_text())
    assert meta["inputs"]["text"]["source"] == str(asr) and meta["input_overrides"]
    assert json.loads((exp / "decode_ref/meta.json").read_text())["inputs"]["text"]["source"] == "data dir text"
    post = {d: load_decode_dir(exp / d).posteriors for d in ("decode_ref", "decode_asr")}
    assert not np.allclose(post["decode_ref"], post["decode_asr"], atol=1e-4)
    bad = subprocess.run([*infer, "--out", str(tmp_path / "x"), "--override", "train.epochs=1"],
                         env=ENV, capture_output=True, text=True)
    assert bad.returncode != 0 and "may only replace inputs" in bad.stderr


# ------------------------------------------------------------------ raw waveforms, fine-tuning

@pytest.fixture(scope="module")
def wav_corpus(tmp_path_factory) -> Path:
    """24 real wav files: the label sets the pitch of a tone in noise."""
    root = tmp_path_factory.mktemp("wav")
    rng = np.random.default_rng(0)
    all_dir = DataDir()
    for s in range(3):
        for i in range(8):
            utt, y = f"spk{s}-{i:04d}", i % 4
            t = np.arange(int(16000 * rng.uniform(0.4, 1.2))) / 16000
            wave = 0.3 * np.sin(2 * np.pi * (200 + 150 * y) * t) + 0.02 * rng.normal(size=t.shape)
            path = root / "wav" / f"{utt}.wav"
            path.parent.mkdir(exist_ok=True)
            sf.write(path, wave.astype("f4"), 16000)
            all_dir.add(utt, f"spk{s}", wav=str(path), text="x", emo=LABELS[y])
    for part, spk in (("train", 0), ("valid", 1), ("test", 2)):
        all_dir.filter(lambda u, spk=spk: u.startswith(f"spk{spk}")).save(root / "data" / part)
    return root


@pytest.mark.parametrize("encoder", ["whisper", "w2v"])
def test_speech_encoder_streams_on_raw_waveforms(tiny_speech_encoders, encoder):
    from mer.models.streams import build_stream

    stream = build_stream("audio", InputInfo("waveform", sample_rate=16000),
                          {"model": str(tiny_speech_encoders[encoder])}).eval()
    lengths = [16000, 9600]
    with torch.no_grad():
        x, mask = stream(speech_batch(lengths))
    if encoder == "whisper":
        assert mask.sum(1).tolist() == [50, 30]  # 50 frames/s of its own length, not 30 s
        with torch.no_grad():  # one utterance at a time: a partner's length changes nothing
            alone, _ = stream(speech_batch([16000]))
        assert torch.allclose(alone[0], x[0, :50], atol=1e-5)
        assert not stream.encoder.conv1.weight.requires_grad  # the feature encoder is frozen
    else:
        assert mask.sum(1).tolist() == stream.encoder._get_feat_extract_output_lengths(
            torch.tensor(lengths)).tolist()
        assert not any(p.requires_grad for p in stream.encoder.feature_extractor.parameters())
    assert stream.mix.weights.shape == (3,)  # embeddings + 2 layers, learned weighted sum
    assert sorted({n.split(".")[0] for n, p in stream.named_parameters() if p.requires_grad}) == ["encoder", "mix"]


def test_lr_schedule_warmup_decay_and_encoder_freeze():
    s = LRSchedule({"name": "steplr", "step_size": 2, "gamma": 0.5, "warmup_steps": 4}, encoder_freeze_steps=3)
    assert [s.factor(k, 1, False) for k in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert s.factor(10, 3, False) == 0.5 and s.factor(10, 5, False) == 0.25
    assert s.factor(2, 1, True) == 0.0 and s.factor(3, 1, True) == 1.0


@pytest.mark.slow
def test_finetuning_a_speech_encoder_with_freeze_steps_and_accumulation(wav_corpus, tiny_speech_encoders, tmp_path):
    def trained(freeze_steps: int):
        conf = load_config(None, [
            "model={name: audio_only, aggregation: mean, head_hidden: 16, encoders: {audio: {model: "
            f"{tiny_speech_encoders['whisper']}}}}}}}", "inputs={audio: {type: waveform}}",
            f"optim.encoder_freeze_steps={freeze_steps}", "optim.encoder_lr=1.0e-3", "optim.lr=1.0e-2",
            "scheduler={name: none, warmup_steps: 2}", "train.epochs=1", "train.batch_size=2",
            "train.accum_grad=2", "train.bucketing=true"])
        label_map = LabelMap(None, LABELS)
        inputs = open_inputs(conf, tmp_path, model_input_names(conf["model"]))
        sets = [EmotionDataset(wav_corpus / "data" / p, label_map, inputs) for p in ("train", "valid")]
        torch.manual_seed(0)
        model = build_model(conf["model"], 4, {k: s.info for k, s in inputs.items()})
        before = {k: v.clone() for k, v in model.state_dict().items()}
        trainer = Trainer(conf, tmp_path / f"exp{freeze_steps}", model, *sets, LABELS, init_distributed("cpu"))
        trainer.fit()
        assert trainer.step == 2  # 4 batches of 2, two batches per optimiser step
        changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
        return changed

    frozen = trained(freeze_steps=100)
    assert not any(k.startswith("stream.encoder.") for k in frozen) and "head.net.1.weight" in frozen
    tuned = trained(freeze_steps=0)
    assert "stream.encoder.layers.0.fc1.weight" in tuned
    assert "stream.encoder.conv1.weight" not in tuned  # the convolutional front end stays frozen


# ------------------------------------------------------------------ combiners

@pytest.mark.slow
def test_a_combiner_reads_other_systems_decode_dirs(corpus, tmp_path):
    from mer.combine.base import AbsCombiner, FoldContext

    probe = probe_command(corpus, tmp_path)
    proto, exp = tmp_path / "data/fixed", tmp_path / "exp/fixed"
    for layer in (0, 1):
        run([*probe, "--set", f"layer={layer}", "--out", str(exp / f"probe_l{layer}"), "--test-sets", "valid", "test"])

    class Average(AbsCombiner):  # the simplest system made of others: mean posteriors
        def run_fold(self, ctx: FoldContext) -> None:
            for test_set in ctx.test_sets:
                parts = [ctx.load(f"probe_l{k}", test_set) for k in (0, 1)]
                ctx.write(test_set, parts[0].utts, parts[0].classes,
                          (parts[0].posteriors + parts[1].posteriors) / 2, dict(zip(parts[0].utts, parts[0].refs)),
                          system="average")

    ctx = FoldContext(proto / "fold1", exp / "avg/fold1", exp, corpus / "dump", ["test"],
                      meta={"protocol": "fixed", "config": "avg", "fold": 1})
    Average().run_fold(ctx)
    run([sys.executable, "-m", "mer.bin.score", str(exp / "avg/fold1/decode_test")])
    assert json.loads((exp / "avg/fold1/decode_test/scores.json").read_text())["num_utts"] == 20
    with pytest.raises(FileNotFoundError, match="train and decode 'missing' first"):
        ctx.load("missing", "test")


def test_finetuned_whisper_stream_starts_from_the_dumped_features():
    """The stream that fine-tunes Whisper on raw audio computes, before training, exactly what the
    feature stage dumps at the utterance's own length: one model, two ways in."""
    from mer.features.hf import HFSpeechEncoder
    from mer.models.streams import build_stream
    from mer.pretrained import is_complete, models_dir

    if not is_complete(models_dir() / "whisper-tiny.en"):
        pytest.skip("tools/models/whisper-tiny.en is not prepared (tools/install.sh)")
    wave = (0.1 * np.random.default_rng(0).normal(size=24000)).astype("f4")
    dumped = HFSpeechEncoder("whisper-tiny.en", layers="all", device="cpu", whisper_input_seconds="utterance")([wave])[0]
    stream = build_stream("audio", InputInfo("waveform", sample_rate=16000),
                          {"model": "whisper-tiny.en", "layers": "weighted"}).eval()
    captured = {}
    stream.mix.register_forward_pre_hook(lambda mod, args: captured.setdefault("states", args[0]))
    with torch.no_grad():
        stream({"audio": torch.from_numpy(wave)[None], "audio_lengths": torch.tensor([len(wave)])})
    assert captured["states"][0].shape == dumped.shape
    assert torch.allclose(captured["states"][0], torch.from_numpy(dumped), atol=1e-5)
