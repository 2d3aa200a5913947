"""A speaker-normalised model (`cmvn: speaker`) outside its recipe (mer.deploy_cmvn): packed with
its training speakers' statistics, and recognised with each recording's speaker as in the decode dir.

The fixture writes wav files of four speakers (each at its own loudness and pitch, so per-speaker
statistics matter), dumps real fbank features with mer.bin.dump_feats, stores a seeded model in a
recipe-like exp dir and decodes the test speaker with mer.bin.infer: no training, no hub model.
"""
from __future__ import annotations

import json
import shutil
import tarfile

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch

from mer.bin import dump_feats, infer, pack, recognize
from mer.data.datadir import DataDir
from mer.deploy_cmvn import FALLBACK_KEY, SPEAKER_HINT
from mer.inputs import open_inputs
from mer.models import build_model, model_input_names
from mer.packing import read_archive
from mer.train.config import load_config, save_config
from tests.helpers.training import LABELS

SPEAKERS = {"spk0": (0.05, 180.0), "spk1": (0.3, 240.0), "spk2": (0.1, 300.0), "spk3": (0.6, 120.0)}
PARTS = {"train": ("spk0", "spk1"), "valid": ("spk2",), "test": ("spk3",)}
UTTS_PER_SPEAKER = 4


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy_cmvn")
    rng = np.random.default_rng(0)
    all_dir = DataDir()
    for spk, (gain, freq) in SPEAKERS.items():
        for i in range(UTTS_PER_SPEAKER):
            n = int(rng.integers(5000, 9000))
            t = np.arange(n) / 16000
            wave = gain * (np.sin(2 * np.pi * freq * (1 + 0.2 * i) * t) + 0.3 * rng.normal(size=n))
            path = root / "wav" / f"{spk}-{i}.wav"
            path.parent.mkdir(exist_ok=True)
            sf.write(path, wave.astype("f4"), 16000, subtype="FLOAT")
            all_dir.add(f"{spk}-{i}", spk, wav=str(path), text="x", emo=LABELS[i % len(LABELS)])
    all_dir.save(root / "data/all")
    fold_data = root / "data/fixed/fold1"
    for part, speakers in PARTS.items():
        all_dir.filter(lambda u, s=speakers: u.split("-")[0] in s).save(fold_data / part)
    assert dump_feats.main(["--feature", "fbank", "--num-mel-bins", "24", str(root / "data/all"),
                            str(root / "dump/audio")]) == 0
    fold = root / "exp/fixed/audio_cmvn/fold1"
    fold.mkdir(parents=True)
    config = root / "conf.yaml"
    config.write_text("model: {name: audio_only, aggregation: mean, dim: 16, head_hidden: 16, dropout: 0.1}\n"
                      "inputs: {audio: {type: dump, name: audio, cmvn: speaker}}\n"
                      "train: {epochs: 1, batch_size: 4}\n")
    conf = load_config(config)
    save_config(conf, fold / "config.yaml")
    (fold / "classes").write_text("".join(f"{c}\n" for c in LABELS))
    infos = {k: s.info for k, s in open_inputs(conf, root / "dump", model_input_names(conf["model"])).items()}
    torch.manual_seed(0)
    model = build_model(conf["model"], len(LABELS), infos)
    torch.save({"epoch": 1, "model": model.state_dict(), "metric": "ua", "value": 0.5}, fold / "best.pt")
    assert infer.main(["--exp-dir", str(fold), "--data-dir", str(fold_data / "test"), "--dumpdir",
                       str(root / "dump"), "--out", str(fold / "decode_test"), "--device", "cpu"]) == 0
    decode = fold / "decode_test"
    classes = (decode / "classes").read_text().split()
    decoded = {u: dict(zip(classes, np.asarray(v).tolist()))
               for u, v in kaldiio.load_scp(str(decode / "posteriors.scp")).items()}
    return {"root": root, "fold": fold, "test": fold_data / "test", "decoded": decoded, "model": model,
            "feats": dict(kaldiio.load_scp(str(root / "dump/audio/feats.scp")))}


@pytest.fixture(scope="module")
def packed(exp, tmp_path_factory):
    out = tmp_path_factory.mktemp("pack") / "cmvn.tar.gz"
    assert pack.main([str(exp["fold"]), str(out)]) == 0
    return out


def _recognised(capsys, *args) -> dict[str, dict]:
    assert recognize.main(["--device", "cpu", *map(str, args)]) == 0
    return {r["utt"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}


def _close(got: dict[str, float], want: dict[str, float]) -> bool:
    return max(abs(got[c] - want[c]) for c in want) <= 1e-5


def test_the_pack_keeps_the_training_speakers_statistics_and_says_what_to_pass(exp, packed, capsys):
    stored = read_archive(packed).inputs["audio"][FALLBACK_KEY]
    per_speaker = [np.concatenate([exp["feats"][f"{s}-{i}"] for i in range(UTTS_PER_SPEAKER)]).astype("f8")
                   for s in PARTS["train"]]
    np.testing.assert_allclose(stored["mean"], np.mean([f.mean(0) for f in per_speaker], 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stored["std"], np.mean([f.std(0) for f in per_speaker], 0), rtol=1e-5, atol=1e-5)
    assert "2 training speakers" in stored["statistics"]
    assert SPEAKER_HINT in _readme(packed) and "which the model never saw in training" in _readme(packed)
    assert pack.main([str(exp["fold"]), str(packed.parent / "again.tar.gz")]) == 0
    assert SPEAKER_HINT in capsys.readouterr().err


def test_the_hint_says_when_the_model_was_trained_for_lone_recordings():
    from mer.deploy_cmvn import speaker_hint

    spec = {"type": "dump", "name": "audio", "cmvn": "speaker"}
    assert "never saw in training" in speaker_hint({"audio": {"spec": spec}})
    hint = speaker_hint({"audio": {"spec": {**spec, "cmvn_typical_prob": 0.5}}})
    assert "trained on for a share of its training loads (cmvn_typical_prob: audio 0.5)" in hint
    assert speaker_hint({"audio": {"spec": {"type": "dump", "name": "audio"}}}) is None


def _readme(path) -> str:
    with tarfile.open(path) as tar:
        return next(tar.extractfile(m).read().decode() for m in tar.getmembers() if m.name.endswith("README.md"))


def test_a_speakers_recordings_given_with_the_speaker_equal_the_decode_dir(exp, packed, capsys, tmp_path):
    # the test data dir's wav.scp, with its utt2spk beside it
    results = _recognised(capsys, "--model", packed, exp["test"] / "wav.scp")
    assert set(results) == set(exp["decoded"])
    for utt, res in results.items():
        assert _close(res["posteriors"], exp["decoded"][utt]), utt
        assert "audio.cmvn" not in res["differs"]
    # the same files named one by one with --speaker
    wavs = [DataDir.load(exp["test"]).wav_scp[u] for u in sorted(exp["decoded"])]
    by_path = _recognised(capsys, "--model", packed, "--speaker", "spk3", *wavs)
    for utt, wav in zip(sorted(exp["decoded"]), wavs):
        assert _close(by_path[wav]["posteriors"], exp["decoded"][utt]), utt


def test_one_at_a_time_a_speakers_statistics_gather_over_the_calls(exp, packed):
    from mer.recognizer import Recognizer

    r = Recognizer.from_pretrained(packed, device="cpu")
    utts = sorted(exp["decoded"])
    wavs = DataDir.load(exp["test"]).wav_scp
    first = r(wavs[utts[0]], speaker="spk3")  # its own frames only, so far
    assert not _close(first["posteriors"], exp["decoded"][utts[0]]) and "audio.cmvn" not in first["differs"]
    for utt in utts[1:]:
        last = r(wavs[utt], speaker="spk3")
    assert _close(last["posteriors"], exp["decoded"][utts[-1]])  # by now: all of the speaker's recordings
    r.forget_speakers()
    assert _close(r(wavs[utts[0]], speaker="spk3")["posteriors"], first["posteriors"])


def test_a_lone_recording_uses_the_training_statistics(exp, packed, capsys):
    utt = sorted(exp["decoded"])[0]
    wav = DataDir.load(exp["test"]).wav_scp[utt]
    res = _recognised(capsys, "--model", packed, wav)[wav]
    assert "training speakers' statistics" in res["differs"]["audio.cmvn"]
    assert "2 training speakers" in res["differs"]["audio.cmvn"]
    stored = read_archive(packed).inputs["audio"][FALLBACK_KEY]
    x = (torch.tensor(exp["feats"][utt]) - torch.tensor(stored["mean"])) / torch.tensor(stored["std"])
    with torch.no_grad():
        out = exp["model"].eval()({"audio": x[None], "audio_lengths": torch.tensor([x.shape[0]])})
    want = dict(zip(LABELS, torch.softmax(out.logits, -1)[0].tolist()))
    assert _close(res["posteriors"], want)
    assert not _close(res["posteriors"], exp["decoded"][utt])  # its speaker's statistics differ


def test_a_speaker_normalised_model_without_its_training_dirs_is_not_packed(exp, tmp_path, capsys):
    moved = tmp_path / "exp/other/audio_cmvn"
    shutil.copytree(exp["fold"], moved / "fold1")
    assert pack.main(["--dumpdir", str(exp["root"] / "dump"), str(moved / "fold1"), str(tmp_path / "m.tar.gz")]) == 2
    assert "--train-dir" in capsys.readouterr().err and not (tmp_path / "m.tar.gz").exists()
    assert pack.main(["--dumpdir", str(exp["root"] / "dump"), "--train-dir", str(exp["root"] / "data/fixed/fold1/train"),
                      str(moved / "fold1"), str(tmp_path / "m.tar.gz")]) == 0


def test_utt2spk_by_file_stem_and_chunks_that_keep_a_speaker_whole(exp, packed, capsys, tmp_path):
    from mer.bin.recognize import speaker_chunks
    from mer.recognizer import Recording

    wavs = DataDir.load(exp["test"]).wav_scp
    (tmp_path / "utt2spk").write_text("".join(f"{u} spk3\n" for u in sorted(wavs)))
    results = _recognised(capsys, "--model", packed, "--utt2spk", tmp_path / "utt2spk", *wavs.values())
    for utt, wav in wavs.items():
        assert _close(results[wav]["posteriors"], exp["decoded"][utt]), utt
    recs = [Recording(f"u{i}", speaker=s) for i, s in enumerate(["a", None, "b", "a", "b", "a", None])]
    chunks = speaker_chunks(recs, 3)
    assert [[r.utt for r in c] for c in chunks] == [["u0", "u3", "u5"], ["u1", "u2", "u4"], ["u6"]]
