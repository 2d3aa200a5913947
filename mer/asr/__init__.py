"""Speech recognition with Whisper (transformers) and WER scoring.

    from mer.asr import transcribe_data_dir, transcribe, score_wer, normalize_text

`transcribe_data_dir(data_dir, out_dir, model, ...)`: a Kaldi data dir -> OUT_DIR/text (+ failed,
settings.json, and wer.json/alignment.txt when the data dir has a text file); see mer.asr.run.
`transcribe(waves, model, ...)`: in-memory 16 kHz waveforms -> hypotheses.
`score_wer(refs, hyps)`: WER with S/D/I/hits and per-utterance alignments; see mer.asr.wer.
`normalize_text(text)`: the normalisation used for scoring; see mer.asr.normalize.
"""
from __future__ import annotations

from mer.asr.normalize import normalize_text
from mer.asr.run import TranscriptionError, TranscriptionResult, transcribe_data_dir
from mer.asr.wer import score_wer, wer_summary


def transcribe(waves, model, *, beam_size: int = 1, batch_size: int = 8, language: str | None = None,
               device: str = "auto") -> list[str]:
    """Hypotheses for 16 kHz mono float waveforms, in their order. `model`: a hub id, a local
    directory, a short name (whisper-tiny.en) or a loaded `mer.asr.whisper.WhisperTranscriber`."""
    from mer.asr.whisper import WhisperTranscriber
    from mer.features.batching import length_batches

    transcriber = model if isinstance(model, WhisperTranscriber) else WhisperTranscriber(
        model, beam_size=beam_size, language=language, device=device)
    hyps: list[str] = [""] * len(waves)
    for batch in length_batches([(i, w, len(w)) for i, w in enumerate(waves)], batch_size, float("inf")):
        for (i, _, _), hyp in zip(batch, transcriber([b[1] for b in batch])):
            hyps[i] = hyp
    return hyps


__all__ = ["TranscriptionError", "TranscriptionResult", "normalize_text", "score_wer", "transcribe",
           "transcribe_data_dir", "wer_summary"]
