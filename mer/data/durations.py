"""Utterance durations of a data dir, read cheaply: no audio is decoded.

In order: utt2dur, the segment's bounds, reco2dur of the utterance's recording, the audio file's
header. A piped wav.scp entry (`cmd |`) has no header to read: its duration stays unknown.
"""
from __future__ import annotations

from dataclasses import dataclass

from mer.data.audio import is_pipe
from mer.data.datadir import DataDir


@dataclass
class Durations:
    seconds: float        # summed over the utterances whose duration is known
    known: int            # how many those are
    unknown: list[str]    # utterances without one (piped audio, unreadable headers, no wav.scp entry)

    @property
    def estimated_seconds(self) -> float:
        """`seconds`, with each unknown utterance counted at the known ones' mean length."""
        if not self.unknown:
            return self.seconds
        return self.seconds + len(self.unknown) * (self.seconds / self.known if self.known else 0.0)


def utterance_seconds(data: DataDir, utt: str) -> float | None:
    """Seconds of one utterance, or None when only decoding its audio could tell."""
    import soundfile as sf

    dur = data.extra.get("utt2dur", {}).get(utt)
    if dur is not None:
        return float(dur)
    if utt in data.segments:
        seg = data.segments[utt]
        return seg.end - max(seg.start, 0.0)
    reco_dur = data.reco_extra.get("reco2dur", {}).get(utt)
    if reco_dur is not None:
        return float(reco_dur)
    spec = data.wav_scp.get(utt, "").strip()
    if not spec or is_pipe(spec):
        return None
    try:
        return sf.info(spec).duration
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None  # the dump names the broken file; here it only leaves the estimate


def durations(data: DataDir, utts: list[str] | None = None) -> Durations:
    total, known, unknown = 0.0, 0, []
    for utt in data.utts if utts is None else utts:
        seconds = utterance_seconds(data, utt)
        if seconds is None:
            unknown.append(utt)
        else:
            total, known = total + seconds, known + 1
    return Durations(total, known, unknown)
