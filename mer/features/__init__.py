"""Feature extractors by name, as `dump_feats --feature TYPE` knows them."""
from __future__ import annotations

# System C's acoustic feature sets, one entry each: name -> (module, class, keyword arguments),
# imported when built. The first four are what the EmoDB and mini recipes dump (kept as they are);
# the last three are the paper's sets that the IEMOCAP recipe dumps.
ACOUSTIC_FEATURES = {
    # 13 Kaldi MFCCs + deltas + delta-deltas per 10 ms
    "mfcc39": ("mer.features.acoustic", "Mfcc39Extractor", {}),
    # pitch / harmonic ratio / RMS / pause / spectral centroid (our own eight)
    "handcrafted8": ("mer.features.acoustic", "HandcraftedExtractor", {}),
    "egemaps": ("mer.features.acoustic", "OpenSmileExtractor", {"feature_set": "eGeMAPSv02"}),
    "egemaps-lld": ("mer.features.acoustic", "OpenSmileExtractor", {"feature_set": "eGeMAPSv02", "level": "lld"}),
    # GeMAPS v01b functionals (62 per utterance)
    "gemaps": ("mer.features.acoustic", "OpenSmileExtractor", {"feature_set": "GeMAPSv01b"}),
    # 39 MFCCs per 32 ms as librosa.feature.mfcc(n_mfcc=39) computes them, in torch
    "librosa-mfcc39": ("mer.features.librosa_mfcc", "LibrosaMfccExtractor", {}),
    # the eight values of Sahu (2019): signal, RMS, silence, harmonics, centre-clipped pitch
    "sahu8": ("mer.features.sahu8", "Sahu8Extractor", {}),
}
FEATURE_TYPES = ("fbank", "mfcc", "logmel", "hf", "hf-text", *ACOUSTIC_FEATURES)
# Whisper's input window: a number of seconds (30, the default, is the window Whisper was trained
# on: every utterance padded to it), or this name: the utterance's own length.
WHISPER_UTTERANCE = "utterance"


def parse_whisper_window(value) -> float | str:
    """`utterance`, or a positive number of seconds ("30", "30s", 30) as a float."""
    text = str(value).strip().lower()
    if text == WHISPER_UTTERANCE:
        return WHISPER_UTTERANCE
    try:
        seconds = float(text[:-1] if text.endswith("s") else text)
    except ValueError:
        seconds = float("nan")
    if isinstance(value, bool):  # YAML's yes/no
        seconds = float("nan")
    if not seconds > 0:
        raise ValueError(f"Whisper input window {value!r}: expected '{WHISPER_UTTERANCE}' or a "
                         f"positive number of seconds (30 = Whisper's own window)")
    return seconds


def build_extractor(feature: str, model: str | None = None, layers: str = "last", device: str = "auto",
                    num_mel_bins: int = 80, whisper_input_seconds: float | str = 30.0, clean_text: bool = False):
    if feature == "fbank":
        from mer.features.signal import FbankExtractor

        return FbankExtractor(num_mel_bins=num_mel_bins)
    if feature == "mfcc":
        from mer.features.signal import MfccExtractor

        return MfccExtractor()
    if feature == "logmel":
        from mer.features.signal import LogMelExtractor

        return LogMelExtractor(num_mel_bins=num_mel_bins)
    if feature in ACOUSTIC_FEATURES:
        import importlib

        module, cls, kwargs = ACOUSTIC_FEATURES[feature]
        return getattr(importlib.import_module(module), cls)(**kwargs)
    if feature in ("hf", "hf-text"):
        if not model:
            raise ValueError(f"--feature {feature} needs --model (a hub id or a local directory)")
        from mer.features.hf import HFSpeechEncoder, HFTextEncoder

        if feature == "hf":
            return HFSpeechEncoder(model, layers=layers, device=device,
                                   whisper_input_seconds=whisper_input_seconds)
        return HFTextEncoder(model, layers=layers, device=device, clean_text=clean_text)
    raise ValueError(f"unknown feature type '{feature}'; choose from {', '.join(FEATURE_TYPES)}")


def build_extractor_from_settings(settings: dict, device: str = "auto"):
    """The extractor a dump was made with, from the settings it recorded (`read_dump_settings`):
    the same code as `dump_feats`, so features computed later equal the dump's."""
    import inspect

    known = set(inspect.signature(build_extractor).parameters) - {"device"}
    return build_extractor(device=device, **{k: v for k, v in settings.items() if k in known})


def read_dump_settings(dump_dir) -> dict:
    """The dump_feats options a dump was made with: feats_info.json's `settings`, or for dumps made
    before it was recorded, the job stamp `split<nj>/options.json`."""
    import json
    from pathlib import Path

    dump_dir = Path(dump_dir)
    info = json.loads((dump_dir / "feats_info.json").read_text())
    if "settings" in info:
        return dict(info["settings"])
    stamp = dump_dir / f"split{info.get('nj', 1)}" / "options.json"
    if not stamp.is_file():
        raise ValueError(f"{dump_dir}: neither feats_info.json nor {stamp.name} records the settings the "
                         f"dump was made with; dump it again with mer.bin.dump_feats")
    return {k: v for k, v in json.loads(stamp.read_text()).items() if k != "data_dir"}
