"""Feature extractors by name, as `dump_feats --feature TYPE` knows them."""
from __future__ import annotations

# mfcc39, handcrafted8, egemaps, egemaps-lld: system C's acoustic feature sets (mer.features.acoustic)
FEATURE_TYPES = ("fbank", "mfcc", "logmel", "hf", "hf-text", "mfcc39", "handcrafted8", "egemaps", "egemaps-lld")


def build_extractor(feature: str, model: str | None = None, layers: str = "last", device: str = "auto",
                    num_mel_bins: int = 80, whisper_input_seconds: float = 30.0, clean_text: bool = False):
    if feature == "fbank":
        from mer.features.signal import FbankExtractor

        return FbankExtractor(num_mel_bins=num_mel_bins)
    if feature == "mfcc":
        from mer.features.signal import MfccExtractor

        return MfccExtractor()
    if feature == "logmel":
        from mer.features.signal import LogMelExtractor

        return LogMelExtractor(num_mel_bins=num_mel_bins)
    if feature in ("mfcc39", "handcrafted8", "egemaps", "egemaps-lld"):
        from mer.features import acoustic

        if feature == "mfcc39":
            return acoustic.Mfcc39Extractor()
        if feature == "handcrafted8":
            return acoustic.HandcraftedExtractor()
        return acoustic.EgemapsExtractor("lld" if feature == "egemaps-lld" else "functionals")
    if feature in ("hf", "hf-text"):
        if not model:
            raise ValueError(f"--feature {feature} needs --model (a hub id or a local directory)")
        from mer.features.hf import HFSpeechEncoder, HFTextEncoder

        if feature == "hf":
            return HFSpeechEncoder(model, layers=layers, device=device,
                                   whisper_input_seconds=whisper_input_seconds)
        return HFTextEncoder(model, layers=layers, device=device, clean_text=clean_text)
    raise ValueError(f"unknown feature type '{feature}'; choose from {', '.join(FEATURE_TYPES)}")
