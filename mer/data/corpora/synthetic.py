"""A small synthetic speech + text emotion corpus in the Kaldi layout (the `egs/mini` demo).

Every utterance has a voice-like waveform and an English transcript, labelled with one of four
emotions (`ang hap neu sad`). The emotion is carried partly by each modality, each with deliberate
noise, so that neither alone is perfect and a fusion of both beats either:

- audio: a glottal-pulse source (Rosenberg pulse with jitter, shimmer and aspiration noise) shaped
  by three formant resonators into syllables with an envelope, light fricative bursts between
  them. Per speaker: base F0 (female ~210 Hz, male ~112 Hz), formant scaling, loudness, tempo.
  Per emotion (`PROFILES`): F0 level and range, loudness, syllable rate and voice quality (open
  quotient, breathiness). `ang` and `hap` are both high-arousal and differ only slightly (audio
  confuses them); `neu` and `sad` differ clearly (sad: low, narrow, slow, quiet and breathy).
  With probability `audio_noise` an utterance takes the acoustic profile of another emotion.
  Background noise at an SNR drawn from 20-40 dB; peak kept below 0.9.
- text: real English sentences from templates and word lists with emotion-bearing words. `ang` and
  `hap` are worded unmistakably; half of the `sad` and a third of the `neu` sentences narrate a
  plain day in the same words (text confuses sad with neu). With probability `text_noise` a
  sentence is neutral-worded or worded for another emotion.
- dialogues: each split's utterances are grouped into dialogues of `DIALOGUE_TURNS` turns in which
  two speakers of that split (three for an odd one out, one where the split has one speaker) take
  turns; a turn keeps the previous turn's emotion with probability `EMOTION_PERSISTS` while that
  speaker has an utterance of it left, so context helps. Grouping only orders the utterances
  already made: it changes none of them, and a dialogue never spans two splits (`make_dialogues`).

Layout under OUT_ROOT: `wav/<spk>/<spk>-<NNNN>.wav` (16-bit PCM, mono), the data dirs `all`,
`train`, `valid`, `test` (wav.scp with absolute paths, text, utt2spk, spk2utt, utt2emo,
utt2gender, utt2split, utt2dur, utt2dialog `<split>-dia<NNN>`, utt2turn 0, 1, ..., labels) and
`cues.tsv` (utt, label, the emotion the audio was made from, the emotion the words were chosen
for: where the noise went). Speakers alternate f/m (`f01 m01 f02 ...`); the splits are
speaker-disjoint (`split_speakers`).

Output is deterministic given the arguments: a rerun writes the same files byte for byte, and
skips wavs already written by a run with the same arguments (recorded in `wav/.settings.json`).
Each utterance draws from its own random streams (seeded by seed, speaker and utterance index),
so the text noise never changes the audio and vice versa; the dialogues draw from one stream per
split, so they change no utterance either.

As a registered corpus (`synthetic`, SYNTHETIC in db.sh): the corpus as distributed is a generator
output root; `prepare` writes its `all` data dir to the out dir; protocol `fixed` is the generator's
speaker-disjoint utt2split. The demo recipe (egs/mini) generates and copies it in stage 1 itself.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from mer.data.corpora.common import CorpusError, PrepReport, resolve_corpus_dir, write_prepared
from mer.data.corpora.registry import CorpusInfo
from mer.data.datadir import DataDir
from mer.data.protocols import official_protocol
from mer.utils.fileio import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

EMOTIONS = ("ang", "hap", "neu", "sad")
LABELS = EMOTIONS  # the order models use for their output classes
SPLITS = ("train", "valid", "test")
# Bump whenever the wavs of a given seed change: the stamp decides whether written wavs are reused
# (the data dirs are rewritten on every run, so new files such as utt2dialog need no bump).
GENERATOR_VERSION = 1

DEFAULT_AUDIO_NOISE = 0.1
DEFAULT_TEXT_NOISE = 0.25
MIN_DUR, MAX_DUR = 1.0, 3.0
DIALOGUE_TURNS = (4, 10)  # turns per dialogue, min and max
EMOTION_PERSISTS = 0.75   # chance that a turn keeps the previous turn's emotion
PEAK = 0.89
LEVEL_DB = -30.0  # RMS of a neutral utterance, dBFS


# ----------------------------------------------------------------------------------------- audio
@dataclass(frozen=True)
class Profile:
    """Mean acoustic parameters of one emotion (multipliers/offsets on the speaker's voice)."""
    f0_mult: float      # F0 level relative to the speaker's base
    f0_range: float     # std of syllable pitch targets, semitones
    level_db: float     # loudness offset, dB
    rate: float         # syllables per second
    open_q: float       # glottal open quotient (low: tense, bright; high: lax, breathy)
    breath: float       # aspiration noise relative to the voiced source
    jitter: float       # relative F0 perturbation
    decl_st: float      # pitch declination over the utterance, semitones (negative: falling)


PROFILES = {
    "ang": Profile(f0_mult=1.45, f0_range=3.2, level_db=+10.0, rate=5.8, open_q=0.40, breath=0.02,
                   jitter=0.012, decl_st=-3.0),
    "hap": Profile(f0_mult=1.58, f0_range=4.2, level_db=+8.0, rate=5.4, open_q=0.48, breath=0.04,
                   jitter=0.010, decl_st=+0.5),
    "neu": Profile(f0_mult=1.00, f0_range=1.3, level_db=0.0, rate=4.0, open_q=0.65, breath=0.06,
                   jitter=0.008, decl_st=-2.0),
    "sad": Profile(f0_mult=0.83, f0_range=0.7, level_db=-9.0, rate=2.7, open_q=0.82, breath=0.28,
                   jitter=0.016, decl_st=-3.0),
}

# (F1, F2, F3) of a few vowels for an adult male voice, Hz.
VOWELS = np.array([
    (730, 1090, 2440),   # a
    (270, 2290, 3010),   # i
    (300, 870, 2240),    # u
    (530, 1840, 2480),   # e
    (570, 840, 2410),    # o
    (660, 1720, 2410),   # ae
    (490, 1350, 1690),   # er
], dtype=float)
BANDWIDTHS = (90.0, 110.0, 170.0)


@dataclass(frozen=True)
class Speaker:
    name: str
    gender: str          # "f" | "m"
    f0: float            # base F0, Hz
    formant_scale: float
    level_db: float      # speaker loudness offset
    open_q: float        # offset on the open quotient
    rate_mult: float


@dataclass(frozen=True)
class UttParams:
    f0: float
    f0_range: float
    level_db: float
    rate: float
    open_q: float
    breath: float
    jitter: float
    shimmer: float
    decl_st: float
    formant_scale: float
    snr_db: float


def _resonator_sos(freq: float, bw: float, sr: int) -> np.ndarray:
    """A second-order resonator with unity gain at DC (Klatt's cascade formant)."""
    r = math.exp(-math.pi * bw / sr)
    c = -2.0 * r * math.cos(2.0 * math.pi * freq / sr)
    a2 = r * r
    return np.array([1.0 + c + a2, 0.0, 0.0, 1.0, c, a2])


def _smooth_noise(rng: np.random.Generator, n: int, step: int) -> np.ndarray:
    """Gaussian noise drawn every `step` samples and linearly interpolated (length n)."""
    k = n // step + 2
    knots = rng.standard_normal(k)
    return np.interp(np.arange(n) / step, np.arange(k), knots)


def _glottal_source(rng: np.random.Generator, f0: np.ndarray, sr: int, open_q: float,
                    shimmer: float) -> tuple[np.ndarray, np.ndarray]:
    """A Rosenberg pulse train following the F0 contour `f0` (Hz): (flow derivative, flow)."""
    cycles = np.cumsum(f0) / sr
    idx = cycles.astype(np.int64)
    phi = cycles - idx                                  # position within the cycle, [0, 1)
    tp = 0.65 * open_q                                  # opening part
    tn = open_q - tp                                    # closing part (short: tense, bright)
    g = np.zeros_like(phi)
    rising = phi < tp
    g[rising] = 0.5 * (1.0 - np.cos(np.pi * phi[rising] / tp))
    closing = (phi >= tp) & (phi < open_q)
    g[closing] = np.cos(0.5 * np.pi * (phi[closing] - tp) / tn)
    amp = 1.0 + shimmer * rng.standard_normal(idx[-1] + 2)   # per-cycle amplitude (shimmer)
    g *= amp[idx]
    dg = np.diff(g, prepend=0.0) * (sr / (f0.mean() * 8.0))  # ~level-independent of F0
    return dg, g


def synthesize(rng: np.random.Generator, p: UttParams, n_samples: int, sr: int) -> np.ndarray:
    from scipy import signal  # here: importing the corpus registry must stay cheap (db.sh)

    """One utterance of syllables with the parameters `p`, `n_samples` long, peak <= PEAK."""
    out = np.zeros(n_samples)
    lead = int(sr * rng.uniform(0.04, 0.15))
    tail = int(sr * rng.uniform(0.04, 0.15))
    body = n_samples - lead - tail

    # Syllable layout: durations around 1/rate, occasional short pauses between "words".
    bounds = []
    t = lead
    while t < lead + body:
        dur = int(sr / p.rate * rng.uniform(0.7, 1.3))
        end = min(t + dur, lead + body)
        if end - t > 0.06 * sr:
            bounds.append((t, end))
        t = end
        if rng.random() < 0.12:
            t += int(sr * rng.uniform(0.08, 0.2))
    if not bounds:
        bounds = [(lead, lead + body)]

    # Pitch contour in semitones: declination + interpolated syllable targets + jitter.
    centres = np.array([(a + b) / 2 for a, b in bounds])
    targets = rng.normal(0.0, p.f0_range, len(bounds))
    # stressed syllables (high targets) are also louder
    stress = 1.0 + 0.08 * np.clip(targets / max(p.f0_range, 0.5), -2, 2)
    tt = np.arange(n_samples)
    st = np.interp(tt, centres, targets) + p.decl_st * (tt - lead) / max(body, 1)
    st += 0.4 * _smooth_noise(rng, n_samples, sr // 20)          # slow wander
    f0 = p.f0 * 2.0 ** (st / 12.0)
    f0 *= 1.0 + p.jitter * _smooth_noise(rng, n_samples, max(sr // 200, 1))
    f0 = np.clip(f0, 50.0, 600.0)

    dg, flow = _glottal_source(rng, f0, sr, p.open_q, p.shimmer)
    # aspiration noise, pulsed with the glottal opening
    aspir = rng.standard_normal(n_samples) * (0.3 + 0.7 * flow) * p.breath * 2.0
    source = dg + aspir

    fric_sos = signal.butter(2, 3000.0, btype="highpass", fs=sr, output="sos")
    for (a, b), s in zip(bounds, stress):
        n = b - a
        nv = int(n * rng.uniform(0.65, 0.85))                   # voiced nucleus
        onset = n - nv
        vowel = VOWELS[rng.integers(len(VOWELS))] * p.formant_scale
        vowel = vowel * np.exp(rng.normal(0.0, 0.05, 3))
        sos = np.stack([_resonator_sos(f, bw, sr) for f, bw in zip(vowel, BANDWIDTHS)])
        seg = signal.sosfilt(sos, source[a + onset:b])
        att = max(int(0.02 * sr), 1)
        env = np.ones(nv)
        env[:att] = np.sin(0.5 * np.pi * np.arange(att) / att) ** 2
        rel = max(int(nv * rng.uniform(0.3, 0.5)), 1)
        env[-rel:] *= np.cos(0.5 * np.pi * np.arange(rel) / rel) ** 2
        out[a + onset:b] += s * seg * env
        if onset > 0.015 * sr and rng.random() < 0.6:               # consonant: a fricative
            fr = signal.sosfilt(fric_sos, rng.standard_normal(onset))
            fenv = np.hanning(onset)
            out[a:a + onset] += 0.15 * fr * fenv * np.std(seg)

    # Loudness: RMS over the active part, then background noise at the SNR, then peak limit.
    active = np.abs(out) > 1e-4
    rms = np.sqrt(np.mean(out[active] ** 2)) if active.any() else 1.0
    out *= 10.0 ** ((LEVEL_DB + p.level_db) / 20.0) / rms
    noise = signal.lfilter([1.0], [1.0, -0.7], rng.standard_normal(n_samples))
    sig_rms = 10.0 ** ((LEVEL_DB + p.level_db) / 20.0)
    noise *= sig_rms * 10.0 ** (-p.snr_db / 20.0) / np.sqrt(np.mean(noise ** 2))
    out += noise
    peak = np.max(np.abs(out))
    if peak > PEAK:
        out *= PEAK / peak
    return out


def _utt_params(rng: np.random.Generator, spk: Speaker, emo: str) -> UttParams:
    pr = PROFILES[emo]
    return UttParams(
        f0=spk.f0 * pr.f0_mult * math.exp(rng.normal(0.0, 0.05)),
        f0_range=pr.f0_range * rng.uniform(0.75, 1.25),
        level_db=pr.level_db + spk.level_db + rng.normal(0.0, 1.5),
        rate=pr.rate * spk.rate_mult * math.exp(rng.normal(0.0, 0.1)),
        open_q=float(np.clip(pr.open_q + spk.open_q + rng.normal(0.0, 0.04), 0.3, 0.9)),
        breath=pr.breath * math.exp(rng.normal(0.0, 0.3)),
        jitter=pr.jitter * rng.uniform(0.7, 1.3),
        shimmer=0.04 + 0.04 * rng.random(),
        decl_st=pr.decl_st + rng.normal(0.0, 1.0),
        formant_scale=spk.formant_scale * math.exp(rng.normal(0.0, 0.02)),
        snr_db=rng.uniform(20.0, 40.0),
    )


# ------------------------------------------------------------------------------------------ text
SUBJECTS = ["my brother", "my sister", "the manager", "our neighbour", "my best friend", "Tom",
            "Sarah", "the landlord", "my father", "my mother", "the new guy", "our teacher"]
TIMES = ["today", "this morning", "last night", "this week", "on Monday", "yesterday",
         "this afternoon", "again"]
CLOCK = ["nine", "ten thirty", "noon", "two", "three", "four fifteen", "five"]

WORDS = {
    "ang": {
        "adj": ["furious", "so angry", "fed up", "livid", "really mad", "outraged"],
        "judg": ["unacceptable", "ridiculous", "outrageous", "a disgrace", "infuriating",
                 "completely absurd"],
        "event": ["lied to me", "ignored my calls", "broke the deal", "ruined everything",
                  "wasted my whole day", "cheated us", "blamed me for nothing",
                  "took my money", "insulted my family"],
        "obj": ["your excuses", "waiting for nothing", "being lied to", "this nonsense",
                "your attitude", "the constant noise", "being treated like this"],
        "verb": ["talk to me like that", "touch my things", "lie to my face",
                 "walk away from me", "ignore me"],
    },
    "hap": {
        "adj": ["so happy", "thrilled", "really excited", "delighted", "so glad", "overjoyed"],
        "judg": ["wonderful", "amazing", "fantastic", "the best day ever", "brilliant",
                 "such great news"],
        "event": ["got the job", "passed the exam", "won the prize", "said yes",
                  "loved the gift", "is coming to visit", "finally got engaged",
                  "got a promotion", "bought us a puppy"],
        "obj": ["this place", "you so much", "the new house", "our little trip", "these flowers",
                "this song", "every minute of it"],
        "verb": ["celebrate tonight", "dance all night", "throw a party", "go to the beach"],
    },
    "sad": {
        "adj": ["so lonely", "heartbroken", "empty inside", "hopeless", "so sad", "miserable"],
        "event": ["moved away", "passed away", "left me", "stopped calling", "never came back",
                  "lost everything", "forgot about me", "lost her job"],
        "obj": ["my grandmother", "the old days", "him", "my friends back home", "our old house",
                "the way things were", "her laugh"],
    },
    "neu": {
        "obj": ["the report", "the schedule", "the meeting", "the train", "the package",
                "the budget review", "the quarterly report", "the contract", "the invoice"],
        "state": ["on the table", "due on Friday", "in room four", "scheduled for Tuesday",
                  "on the second floor", "ready for review", "in the shared folder"],
        "event": ["went to the office", "called about the schedule", "moved the meeting",
                  "took the bus", "sent the invoice", "checked the numbers", "booked the room",
                  "printed the slides", "signed the contract"],
    },
    # A quiet, ordinary day: worded the same for mild `sad` and plain `neu` sentences.
    "plain": {
        "event": ["stayed home", "didn't go to the meeting", "stayed in bed", "ate alone",
                  "sat by the window", "didn't call anyone", "went to bed early",
                  "skipped dinner", "cancelled the trip", "watched the rain", "walked home"],
    },
}

TEMPLATES = {
    "ang": [
        "I am {adj} that {subj} {event}.",
        "This is {judg}! {Subj} {event} {time}.",
        "I'm sick of {obj}.",
        "How dare you {verb}?",
        "{Subj} {event} and I am {adj}.",
        "Stop it, I've had enough of {obj}!",
        "It's {judg} that {subj} {event}.",
        "Don't you ever {verb} again!",
    ],
    "hap": [
        "I'm {adj} that {subj} {event}!",
        "This is {judg}, {subj} {event}.",
        "I love {obj}!",
        "Great news, {subj} {event}!",
        "We should {verb}, I'm {adj}!",
        "{Subj} {event} {time}, isn't that {judg}?",
        "I'm {adj}, I really love {obj}.",
        "Guess what, {subj} {event}! It's {judg}.",
    ],
    "sad": [
        "I miss {obj} so much.",
        "I feel {adj} since {subj} {event}.",
        "{Subj} {event}, and nothing feels the same.",
        "I've been {adj} ever since {subj} {event}.",
        "Sometimes I still think about {obj}.",
    ],
    "neu": [
        "{Obj} is {state}.",
        "We have a meeting at {clock} {time}.",
        "Please send me {obj} before {clock}.",
        "{Subj} {event} {time}.",
        "I think {obj} is {state}.",
        "Can you check if {obj} is {state}?",
        "I'll take the bus to the office at {clock}.",
        "I {event} {time}.",
    ],
    "plain": [
        "I {event} {time}.",
        "{Subj} {event} {time}.",
        "I just {event} {time}.",
        "We {event} {time}.",
        "I {event} {time}, that's all.",
    ],
}
# Share of plainly worded sentences: text confuses sad with neu.
PLAIN_P = {"sad": 0.5, "neu": 0.35, "ang": 0.0, "hap": 0.0}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def make_sentence(rng: np.random.Generator, emo: str) -> str:
    """One transcript worded for `emo` (before any text noise)."""
    key = "plain" if rng.random() < PLAIN_P[emo] else emo
    words = WORDS[key]

    def pick(lst):
        return lst[rng.integers(len(lst))]

    tmpl = pick(TEMPLATES[key])
    subj = pick(SUBJECTS)
    obj = pick(words.get("obj", ["it"]))
    fill = {"subj": subj, "Subj": _cap(subj), "obj": obj, "Obj": _cap(obj),
            "time": pick(TIMES), "clock": pick(CLOCK)}
    for slot in ("event", "adj", "judg", "verb", "state"):
        if slot in words:
            fill[slot] = pick(words[slot])
    return tmpl.format(**fill)


def _other(rng: np.random.Generator, emo: str) -> str:
    others = [e for e in EMOTIONS if e != emo]
    return others[rng.integers(len(others))]


# ---------------------------------------------------------------------------------------- corpus
def _speakers(seed: int, num_speakers: int) -> list[Speaker]:
    spks = []
    for i in range(num_speakers):
        rng = np.random.default_rng([seed, 1, i])
        gender = "f" if i % 2 == 0 else "m"
        spks.append(Speaker(
            name=f"{gender}{i // 2 + 1:02d}",
            gender=gender,
            f0=(210.0 if gender == "f" else 112.0) * math.exp(rng.normal(0.0, 0.08)),
            formant_scale=(1.16 if gender == "f" else 1.0) * math.exp(rng.normal(0.0, 0.04)),
            level_db=rng.normal(0.0, 1.5),
            open_q=rng.normal(0.0, 0.03),
            rate_mult=math.exp(rng.normal(0.0, 0.06)),
        ))
    return spks


def split_speakers(speakers: list[Speaker]) -> dict[str, str]:
    """Speaker -> split: the last 20 % (at least one) test, the 20 % before valid, rest train.

    Speakers alternate f/m, so with an even count per split both genders are in every split.
    """
    n = len(speakers)
    if n < 3:
        raise ValueError(f"need at least 3 speakers for speaker-disjoint splits, got {n}")
    n_test = max(1, round(0.2 * n))
    n_valid = max(1, round(0.2 * n))
    out = {}
    for i, spk in enumerate(speakers):
        if i >= n - n_test:
            out[spk.name] = "test"
        elif i >= n - n_test - n_valid:
            out[spk.name] = "valid"
        else:
            out[spk.name] = "train"
    return out


def _next_emotion(rng: np.random.Generator, pool: dict[str, list[str]], prev: str | None) -> str:
    """The emotion of the next turn from a speaker's unused utterances `pool` (emotion -> utts)."""
    available = [e for e in EMOTIONS if pool[e]]
    if prev in available and (len(available) == 1 or rng.random() < EMOTION_PERSISTS):
        return prev
    others = [e for e in available if e != prev]
    # In proportion to what is left, so no speaker ends up with one emotion for its last turns.
    counts = np.array([len(pool[e]) for e in others], dtype=float)
    return others[rng.choice(len(others), p=counts / counts.sum())]


def _dialogue_length(rng: np.random.Generator, left: int) -> int:
    """Turns of the next dialogue when `left` utterances remain: drawn from DIALOGUE_TURNS, but
    never leaving fewer than its minimum for a last dialogue (all of them when few are left)."""
    lo, hi = DIALOGUE_TURNS
    n = int(rng.integers(lo, hi + 1))
    if left - n < lo:
        n = left if left <= hi else left - lo
    return n


def _one_dialogue(rng: np.random.Generator, pools: dict[str, dict[str, list[str]]], n_turns: int) -> list[str]:
    """Take `n_turns` utterances (no more than are left) out of `pools` (speaker -> emotion ->
    unused utts), in turn order: the speakers take turns, skipping one with nothing left."""
    group = list(pools)
    first = int(rng.integers(len(group)))
    chain: list[str] = []
    emo = None
    for t in range(n_turns):
        turn_order = [group[(first + t + i) % len(group)] for i in range(len(group))]
        spk = next(s for s in turn_order if any(pools[s].values()))   # n_turns <= what is left
        emo = _next_emotion(rng, pools[spk], emo)
        utts = pools[spk][emo]
        chain.append(utts.pop(int(rng.integers(len(utts)))))
    return chain


def _speaker_groups(speakers: list[str]) -> list[list[str]]:
    """Consecutive pairs of `speakers`, the last group of three when their number is odd."""
    groups = [speakers[i:i + 2] for i in range(0, len(speakers), 2)]
    if len(groups) > 1 and len(groups[-1]) == 1:
        odd_one = groups.pop()
        groups[-1] += odd_one
    return groups


def make_dialogues(data: DataDir, seed: int) -> tuple[dict[str, str], dict[str, str]]:
    """utt2dialog (`<split>-dia<NNN>`) and utt2turn (0, 1, ...) grouping every utterance of `data`
    (which has utt2split) into dialogues within its split; the same seed gives the same dialogues.

    A split's speakers, in the order of utt2spk (generate's: f01 m01 f02 ...), talk in pairs; every
    dialogue has DIALOGUE_TURNS turns unless a pair has fewer utterances than the minimum.
    """
    utt2dialog: dict[str, str] = {}
    utt2turn: dict[str, str] = {}
    split_of = data.extra["utt2split"]
    for si, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 4, si])   # a stream of its own: no utterance changes
        pools: dict[str, dict[str, list[str]]] = {}
        for utt, spk in data.utt2spk.items():
            if split_of[utt] == split:
                pools.setdefault(spk, {e: [] for e in EMOTIONS})[data.utt2emo[utt]].append(utt)
        k = 0
        for group in _speaker_groups(list(pools)):
            group_pools = {s: pools[s] for s in group}
            left = sum(len(utts) for pool in group_pools.values() for utts in pool.values())
            while left:
                n_turns = _dialogue_length(rng, left)
                left -= n_turns
                for turn, utt in enumerate(_one_dialogue(rng, group_pools, n_turns)):
                    utt2dialog[utt], utt2turn[utt] = f"{split}-dia{k:03d}", str(turn)
                k += 1
    return utt2dialog, utt2turn


def _write_wav(path: Path, x: np.ndarray, sr: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".wav")
    os.close(fd)
    try:
        sf.write(tmp, x, sr, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate(out_root: Path, *, num_speakers: int = 10, utts_per_speaker: int = 40, seed: int = 0,
             audio_noise: float = DEFAULT_AUDIO_NOISE, text_noise: float = DEFAULT_TEXT_NOISE,
             sample_rate: int = 16000, force: bool = False) -> dict[str, DataDir]:
    """Write the corpus under `out_root` and return its data dirs {all, train, valid, test}.

    Wavs go to `out_root/wav/<spk>/<utt>.wav` (16-bit PCM, mono), data dirs to
    `out_root/{all,train,valid,test}`. A rerun with the same arguments skips wavs already written
    (unless `force`); any change of arguments rewrites them all.
    """
    if not 0.0 <= audio_noise <= 1.0 or not 0.0 <= text_noise <= 1.0:
        raise ValueError("audio_noise and text_noise must lie in [0, 1]")
    if utts_per_speaker < 1:
        raise ValueError("utts_per_speaker must be positive")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    out_root = Path(out_root).resolve()
    wav_root = out_root / "wav"
    settings = dict(version=GENERATOR_VERSION, num_speakers=num_speakers,
                    utts_per_speaker=utts_per_speaker, seed=seed, audio_noise=audio_noise,
                    text_noise=text_noise, sample_rate=sample_rate)
    stamp = wav_root / ".settings.json"
    reuse = not force and stamp.is_file() and json.loads(stamp.read_text()) == settings
    if not reuse:
        stamp.unlink(missing_ok=True)   # written again once every wav is in place

    speakers = _speakers(seed, num_speakers)
    spk_split = split_speakers(speakers)
    all_dir = DataDir()
    cues = []   # what each modality actually expresses: where the noise went
    n_written = 0
    for si, spk in enumerate(speakers):
        lab_rng = np.random.default_rng([seed, 2, si])
        labels = [EMOTIONS[i % len(EMOTIONS)] for i in range(utts_per_speaker)]
        labels = [labels[i] for i in lab_rng.permutation(utts_per_speaker)]
        for ui, emo in enumerate(labels):
            utt = f"{spk.name}-{ui:04d}"
            text_rng, par_rng, syn_rng = (np.random.default_rng([seed, 3, si, ui, k])
                                          for k in range(3))
            # text, with noise: neutral-worded or another emotion's words
            text_emo = emo
            if text_rng.random() < text_noise:
                text_emo = "neu" if (emo != "neu" and text_rng.random() < 0.5) \
                    else _other(text_rng, emo)
            text = make_sentence(text_rng, text_emo)
            # audio, with noise: another emotion's acoustic profile
            audio_emo = _other(par_rng, emo) if par_rng.random() < audio_noise else emo
            params = _utt_params(par_rng, spk, audio_emo)
            n_samples = int(round(sample_rate * par_rng.uniform(MIN_DUR, MAX_DUR)))
            wav = wav_root / spk.name / f"{utt}.wav"
            if not (reuse and wav.is_file()):
                x = synthesize(syn_rng, params, n_samples, sample_rate)
                _write_wav(wav, x, sample_rate)
                n_written += 1
            all_dir.add(utt, spk.name, wav=str(wav), text=text, emo=emo, gender=spk.gender,
                        split=spk_split[spk.name], dur=f"{n_samples / sample_rate:.4f}")
            cues.append(f"{utt}\t{emo}\t{audio_emo}\t{text_emo}\n")
    write_json_atomic(stamp, settings)
    log.info("synthetic corpus: %d utterances, %d wavs written, %d reused", len(all_dir),
             n_written, len(all_dir) - n_written)

    all_dir.extra["utt2dialog"], all_dir.extra["utt2turn"] = make_dialogues(all_dir, seed)
    dirs = {"all": all_dir}
    split_of = all_dir.extra["utt2split"]
    for split in SPLITS:
        dirs[split] = all_dir.filter(lambda u, s=split: split_of[u] == s)
    for name, d in dirs.items():
        d.save(out_root / name)
        write_text_atomic(out_root / name / "labels", "".join(f"{e}\n" for e in LABELS))
    write_text_atomic(out_root / "cues.tsv", "utt\temo\taudio_emo\ttext_emo\n" + "".join(cues))
    return dirs


def summary(dirs: dict[str, DataDir]) -> str:
    """A small table of utterance counts per split and label."""
    lines = [f"{'split':<6} {'spk':>4} {'utts':>5} " + " ".join(f"{e:>4}" for e in EMOTIONS)]
    for name in ("train", "valid", "test", "all"):
        d = dirs[name]
        counts = [sum(1 for v in d.utt2emo.values() if v == e) for e in EMOTIONS]
        lines.append(f"{name:<6} {len(d.speakers):>4} {len(d):>5} "
                     + " ".join(f"{c:>4}" for c in counts))
    return "\n".join(lines)


def add_arguments(parser) -> None:
    """No options: the generator's own are those of mer.bin.make_synthetic_corpus."""


def prepare(corpus_dir: Path, out_dir: Path) -> DataDir:
    """The generator output under `corpus_dir` (its `all` data dir) written as the data dir `out_dir`."""
    corpus_dir = resolve_corpus_dir(corpus_dir, "SYNTHETIC")
    if not (corpus_dir / "all" / "utt2spk").is_file():
        raise CorpusError(f"{corpus_dir}: no all/utt2spk; make the corpus with "
                          f"python -m mer.bin.make_synthetic_corpus {corpus_dir}")
    dd = DataDir.load(corpus_dir / "all")
    write_prepared(dd, out_dir, LABELS, PrepReport(corpus_dir))
    return dd


def write_fake(root: Path) -> Path:
    """A small generator output (6 speakers x 4 utterances) under `root` (returned)."""
    generate(root, num_speakers=6, utts_per_speaker=4)
    return root


CORPUS = CorpusInfo(
    name="synthetic", labels=LABELS, db_variable="SYNTHETIC",
    description="the demo's synthetic corpus: python -m mer.bin.make_synthetic_corpus DIR makes it",
    protocols=[official_protocol(
        "fixed", "The generator's fixed speaker-disjoint train/valid/test split (utt2split).",
        speaker_independent=True)],
    default_protocol="fixed")


__all__ = ["CORPUS", "EMOTIONS", "LABELS", "PROFILES", "add_arguments", "generate", "make_dialogues",
           "make_sentence", "prepare", "split_speakers", "summary", "synthesize", "write_fake"]
