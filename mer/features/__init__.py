"""Feature extractors by name, as `dump_feats --feature TYPE` knows them."""
from __future__ import annotations

FEATURE_TYPES = ("fbank", "mfcc", "logmel", "hf", "hf-text")
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
    if feature in ("hf", "hf-text"):
        if not model:
            raise ValueError(f"--feature {feature} needs --model (a hub id or a local directory)")
        from mer.features.hf import HFSpeechEncoder, HFTextEncoder

        if feature == "hf":
            return HFSpeechEncoder(model, layers=layers, device=device,
                                   whisper_input_seconds=whisper_input_seconds)
        return HFTextEncoder(model, layers=layers, device=device, clean_text=clean_text)
    raise ValueError(f"unknown feature type '{feature}'; choose from {', '.join(FEATURE_TYPES)}")
