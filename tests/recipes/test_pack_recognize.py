"""Packed models and recognition outside the recipe: `mer.bin.pack`, `mer.bin.recognize`, `mer.recognizer.Recognizer`.

The key check runs the demo recipe at a tiny setting (real Whisper tiny.en and MiniLM, two MemoCMT
configs: the improved one, decoded in batches, and the faithful one, padding-sensitive, decoded one
by one), packs the trained models and recognises the test set's wav files from scratch: the
posteriors must equal the decode dirs' posteriors.scp.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch

from tests.helpers.audio import sine
from mer.bin import pack, recognize
from mer.data.kaldi_io import read_kv
from mer.pretrained import is_complete, models_dir
from tests.helpers.recipes import REPO, copy_recipe, run_recipe

pytestmark = pytest.mark.slow  # runs a whole recipe

CONFIGS = {"min": "conf/tuning/train_memocmt_min.yaml", "faithful": "conf/tuning/train_memocmt_faithful_min.yaml"}
TOLERANCE = 1e-4


def run_cli(module: str, *args, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- settings -> extractor

def test_a_dump_rebuilds_its_extractor(tmp_path):
    """The settings a dump records rebuild an extractor that gives the dumped features, also for
    dumps made before feats_info.json recorded them (the job stamp)."""
    from mer.bin import dump_feats
    from mer.data.datadir import DataDir
    from mer.features import build_extractor_from_settings, read_dump_settings

    data = DataDir()
    for i, n in enumerate((8000, 12345)):
        sf.write(tmp_path / f"u{i}.wav", sine(n, 16000, freq=200 + 100 * i), 16000)
        data.add(f"u{i}", "s", wav=str(tmp_path / f"u{i}.wav"))
    data.save(tmp_path / "data")
    out = tmp_path / "dump"
    assert dump_feats.main(["--feature", "fbank", "--num-mel-bins", "40", str(tmp_path / "data"), str(out)]) == 0
    settings = read_dump_settings(out)
    assert settings["feature"] == "fbank" and settings["num_mel_bins"] == 40
    extractor = build_extractor_from_settings(settings, "cpu")
    dumped = dict(kaldiio.load_scp(str(out / "feats.scp")))
    for i, utt in enumerate(("u0", "u1")):
        wave, _ = sf.read(tmp_path / f"{utt}.wav", dtype="float32")
        np.testing.assert_array_equal(extractor([wave])[0], dumped[utt])
    info = json.loads((out / "feats_info.json").read_text())
    del info["settings"]
    (out / "feats_info.json").write_text(json.dumps(info))
    assert {k: v for k, v in read_dump_settings(out).items() if k in dump_feats.FEATURE_OPTIONS} == {
        k: v for k, v in settings.items() if k in dump_feats.FEATURE_OPTIONS}


# --------------------------------------------------------------------------- the demo, packed

@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    for name in ("whisper-tiny.en", "minilm"):
        if not is_complete(models_dir() / name):
            pytest.skip(f"{models_dir() / name} is not prepared: run tools/install.sh")
    tmp = tmp_path_factory.mktemp("pack")
    recipe = copy_recipe(tmp, "mini/memocmt")
    # A 4 s window (not the recipe's `utterance`): the pack must record the options the dump used.
    default = (recipe / "conf/feats.yaml").read_text()
    feats = default.replace("whisper_input_seconds: utterance", "whisper_input_seconds: 4")
    assert feats != default
    (recipe / "conf/feats_ci.yaml").write_text(feats)
    run_recipe(recipe, "--local_data_opts", "--utts_per_speaker 8", "--feats_config", "conf/feats_ci.yaml",
               "--train_configs", " ".join(CONFIGS.values()), "--train_args", "train.epochs=2",
               "--stop_stage", "5", timeout=1500)
    exps = {key: recipe / "exp/fixed" / f"{Path(conf).stem}_train.epochs2" for key, conf in CONFIGS.items()}
    packs = {key: tmp / f"{key}.tar.gz" for key in CONFIGS}
    proc = run_cli("mer.bin.pack", exps["faithful"], packs["faithful"])  # the command, as a user runs it
    assert proc.returncode == 0, proc.stderr
    assert pack.main([str(exps["min"]), str(packs["min"])]) == 0
    test = recipe / "data/fixed/fold1/test"
    return {"recipe": recipe, "exps": exps, "packs": packs, "test": test, "tmp": tmp}


def decoded(exp: Path) -> dict[str, dict[str, float]]:
    decode = exp / "fold1/decode_test"
    classes = (decode / "classes").read_text().split()
    table = kaldiio.load_scp(str(decode / "posteriors.scp"))
    return {u: dict(zip(classes, np.asarray(v).tolist())) for u, v in table.items()}


def assert_same_posteriors(results: list[dict], expected: dict[str, dict[str, float]]) -> None:
    for res in results:
        want = expected[res["utt"]]
        assert set(res["posteriors"]) == set(want)
        diff = max(abs(res["posteriors"][c] - want[c]) for c in want)
        assert diff <= TOLERANCE, (res["utt"], diff)
        assert res["label"] == max(res["posteriors"], key=res["posteriors"].get)


def test_pack_holds_everything_to_run_elsewhere(demo):
    with tarfile.open(demo["packs"]["faithful"]) as tar:
        files = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert {"README.md", "config.yaml", "model.pt", "classes", "inputs.json", "pack.json",
            "scores/decode_test/scores.json", "scores/scores_test.json"} <= set(files)
    state = torch.load(io.BytesIO(files["model.pt"]), weights_only=True)
    best = torch.load(demo["exps"]["faithful"] / "fold1/best.pt", weights_only=True)
    assert state["model"].keys() == best["model"].keys()
    assert all(torch.equal(state["model"][k], best["model"][k]) for k in best["model"])
    inputs = json.loads(files["inputs.json"])
    assert inputs["audio"]["features"]["model"] == "whisper-tiny.en"
    assert inputs["audio"]["features"]["whisper_input_seconds"] == 4  # the CI window, not the default
    assert inputs["audio"]["features"]["layers"] == "all" and inputs["text"]["features"]["feature"] == "hf-text"
    info = json.loads(files["pack.json"])
    assert info["protocol"] == "fixed" and len(info["git"]["commit"]) == 40
    readme = files["README.md"].decode()
    scores = json.loads(files["scores/decode_test/scores.json"])
    assert "Protocol `fixed`" in readme and f"{100 * scores['ua']:.2f}" in readme
    assert files["classes"].decode().split() == (demo["exps"]["faithful"] / "fold1/classes").read_text().split()


@pytest.mark.parametrize("key", list(CONFIGS))
def test_recognise_test_wavs_equals_decode_dir_and_names_a_broken_file(demo, key, tmp_path, capsys):
    """Over a wav.scp of the test set plus a broken file: every good recording gets the posteriors
    of the decode dir, the broken one is named, the exit status says one failed. The faithful
    model through the command as a user runs it, the other in-process (cheaper)."""
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    scp = tmp_path / "wav.scp"
    scp.write_text((demo["test"] / "wav.scp").read_text() + f"zz-broken {broken}\n")
    args = ["--model", demo["packs"][key], "--text-file", demo["test"] / "text", scp]
    if key == "faithful":
        proc = run_cli("mer.bin.recognize", *args)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        rc = recognize.main([str(a) for a in args])
        out, err = capsys.readouterr()
    assert rc == 1, err
    assert "zz-broken" in err and str(broken) in err
    results = [json.loads(ln) for ln in out.splitlines()]
    expected = decoded(demo["exps"][key])
    assert [r["utt"] for r in results] == list(read_kv(demo["test"] / "wav.scp"))
    assert {r["utt"] for r in results} == set(expected)
    assert_same_posteriors(results, expected)
    text = read_kv(demo["test"] / "text")
    for r in results:
        assert set(r) >= {"utt", "label", "posteriors", "transcript", "seconds"}
        assert r["transcript"] == text[r["utt"]] and r["differs"] == {}
        assert r["seconds"] == pytest.approx(sf.info(read_kv(demo["test"] / "wav.scp")[r["utt"]]).duration, abs=1e-3)


def test_a_model_that_reads_text_stops_without_it(demo, capsys):
    wav = next(iter(read_kv(demo["test"] / "wav.scp").values()))
    assert recognize.main(["--model", str(demo["packs"]["min"]), wav]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    for option in ("--text", "--text-file", "--asr"):
        assert option in err, err


def test_python_api_on_paths_arrays_folders_and_exp_dirs(demo):
    from mer.recognizer import Recognizer
    from mer.recognizer import RecognitionError

    wavs, text = read_kv(demo["test"] / "wav.scp"), read_kv(demo["test"] / "text")
    utts = list(wavs)[:3]
    expected = decoded(demo["exps"]["faithful"])
    r = Recognizer.from_pretrained(demo["packs"]["faithful"], device="cpu")
    one = r(wavs[utts[0]], text=text[utts[0]])
    assert one["utt"] == wavs[utts[0]]
    assert_same_posteriors([{**one, "utt": utts[0]}], expected)
    arrays = [sf.read(wavs[u], dtype="float32")[0] for u in utts]  # the demo's audio is 16 kHz
    many = r(arrays, text=[text[u] for u in utts])
    assert_same_posteriors([{**res, "utt": u} for res, u in zip(many, utts)], expected)
    with pytest.raises(ValueError, match="text="):
        r(wavs[utts[0]])
    with pytest.raises(RecognitionError) as err:
        r([wavs[utts[0]], "/no/such.wav"], text=["a", "b"])
    assert "/no/such.wav" in err.value.failures and len(err.value.results) == 1
    # A folder, with a text file keyed by file stems, and the experiment dir instead of a pack.
    folder = Path(wavs[utts[0]]).parent
    recs = recognize.collect([str(folder)])
    assert recs and all(Path(x.utt).parent == folder for x in recs)
    args = recognize.get_parser().parse_args(["--model", "m", "--text-file", str(demo["test"] / "text"), "x"])
    by_exp = Recognizer.from_pretrained(demo["exps"]["min"], device="cpu")
    results, failed = by_exp.recognize(recs, recognize.transcripts(args, recs))
    assert not failed
    assert_same_posteriors([{**x, "utt": Path(x["utt"]).stem} for x in results], decoded(demo["exps"]["min"]))


def test_asr_text_for_a_model_trained_on_reference_text_is_flagged(demo):
    from mer.recognizer import Recognizer
    from mer.trained_model import load_trained_model

    wav = next(iter(read_kv(demo["test"] / "wav.scp").values()))
    r = Recognizer.from_pretrained(demo["packs"]["min"], device="cpu", asr="whisper-tiny.en")
    res = r(wav)
    assert isinstance(res["transcript"], str)
    assert "text" in res["differs"] and "whisper-tiny.en" in res["differs"]["text"]
    given = r(wav, text="typed by hand")  # text given: nothing differs for a model trained on references
    assert given["transcript"] == "typed by hand" and given["differs"] == {}
    # The same model as if trained on Whisper's transcripts: typed text differs, the same Whisper does not.
    trained = load_trained_model(demo["packs"]["min"])
    trained.inputs["text"].update(transcription={"model": "whisper-tiny.en", "beam_size": 1, "language": None},
                                 text_from="Whisper transcripts (whisper-tiny.en, greedy)")
    on_asr = Recognizer(trained, device="cpu", asr="whisper-tiny.en")
    assert on_asr(wav)["differs"] == {}
    assert "given text instead" in on_asr(wav, text="typed by hand")["differs"]["text"]


def test_emotion_over_time_segments_a_recording_and_plots_it(demo, tmp_path, capsys):
    """--segment fixed on three test recordings joined into one file: one result per window, with
    start and end, the ASR transcript of each window, and the figure of the posteriors over time."""
    waves = [sf.read(p, dtype="float32")[0] for p in list(read_kv(demo["test"] / "wav.scp").values())[:3]]
    joined = tmp_path / "long.wav"
    sf.write(joined, np.concatenate(waves), 16000)
    seconds = sum(len(w) for w in waves) / 16000
    plot = tmp_path / "over_time.png"
    rc = recognize.main(["--model", str(demo["packs"]["min"]), "--asr", "whisper-tiny.en", "--segment", "fixed",
                         "--window", "2", "--hop", "1", "--plot", str(plot), str(joined)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    starts = [r["start"] for r in results]
    assert starts == sorted(starts) and starts[0] == 0 and results[-1]["end"] == pytest.approx(seconds, abs=1e-3)
    assert all(r["utt"] == str(joined) and 0 < r["end"] - r["start"] <= 2 for r in results)
    assert len(results) >= int(seconds) - 1 and all(isinstance(r["transcript"], str) for r in results)
    assert plot.stat().st_size > 0 and "posteriors over time" in err
    # typed transcripts cannot belong to segments
    assert recognize.main(["--model", str(demo["packs"]["min"]), "--text", "x", "--segment", "vad", str(joined)]) == 2


@pytest.mark.parametrize("key", list(CONFIGS))
def test_onnx_export_gives_the_decode_dirs_posteriors(demo, key, tmp_path):
    """`mer.bin.export` checks itself on the test set's dumps; then the .onnx, fed each test
    utterance's dumped frames as its JSON describes them, gives the decode dir's posteriors."""
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / f"{key}.onnx"
    proc = run_cli("mer.bin.export", "--data-dir", demo["test"], "--dumpdir", demo["recipe"] / "dump",
                   demo["packs"][key], out)
    assert proc.returncode == 0, proc.stderr
    print(proc.stderr)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["check"]["max_abs_diff"] <= TOLERANCE and meta["check"]["utterances"] == len(decoded(demo["exps"][key]))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feats = {t["name"]: kaldiio.load_scp(str(demo["recipe"] / "dump" / t["features"]["spec"]["name"] / "feats.scp"))
             for t in meta["inputs"] if "features" in t}
    expected = decoded(demo["exps"][key])
    for utt, want in expected.items():
        feed = {}
        for t in meta["inputs"]:
            if "features" in t:
                x = np.asarray(feats[t["name"]][utt], dtype=np.float32)
                feed[t["name"]] = x.reshape(1, x.shape[0], *t["shape"][2:])
            else:
                feed[t["name"]] = np.array([len(feed[t["name"][: -len("_lengths")]][0])], dtype=np.int64)
        posteriors = session.run(["posteriors"], feed)[0][0]
        assert np.abs(posteriors - np.array([want[c] for c in meta["classes"]])).max() <= TOLERANCE, utt
