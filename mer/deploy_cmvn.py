"""Per-speaker CMVN outside the recipe: the training statistics a pack keeps, and the recogniser's
normalisation of recordings by speaker.

A model whose input has `cmvn: speaker` was trained and decoded on frames normalised with the
mean and variance of each speaker's utterances in the data dir read (`mer.inputs.CMVNInput`).
The recogniser does the same for the recordings it is given with their speaker (`--speaker`,
`--utt2spk`, an `utt2spk` beside a wav.scp; `speaker=` in Python): each speaker's statistics come
from all recordings given for that speaker, in this call and the recogniser's earlier ones (online,
as a speaker's recordings arrive one at a time). A recording given without a speaker is normalised with
the statistics of a typical training speaker, which `mer.bin.pack` stores in the pack: the mean of
the per-speaker means and the mean of the per-speaker standard deviations over the fold's training
speakers (its train dir, and its valid dir when the model was fitted on train+valid). Normalising
a lone recording with its own statistics (what a pack without them falls back to) removes what
its emotion does to the mean, which is why such a model must be given speakers.
"""
from __future__ import annotations

from pathlib import Path

import torch

from mer.data.datadir import DataDir
from mer.inputs import open_input
from mer.inputs.cmvn import accumulate, finish, moments, normalise, typical_stats

FALLBACK_KEY = "cmvn_training_stats"  # in an input's pack record (inputs.json)
STATISTICS = "mean of the per-speaker means and standard deviations"
SPEAKER_HINT = "speaker-normalised: pass --speaker/--utt2spk (Recognizer: speaker=...)"


def speaker_normalised(inputs: dict[str, dict]) -> list[str]:
    """The inputs whose frames are normalised per speaker."""
    return [n for n, rec in inputs.items() if rec["spec"].get("cmvn") == "speaker"]


def speaker_hint(inputs: dict[str, dict]) -> str | None:
    """What a user must pass to run the model as trained, or None where no input needs a speaker."""
    names = speaker_normalised(inputs)
    if not names:
        return None
    trained = [f"{n} {inputs[n]['spec']['cmvn_typical_prob']:g}" for n in names
               if inputs[n]["spec"].get("cmvn_typical_prob")]
    return (f"{SPEAKER_HINT}: input{'s' if len(names) > 1 else ''} {', '.join(names)} normalised with each "
            f"speaker's statistics over all the recordings given for that speaker; a recording without a "
            f"speaker gets the training speakers' ({STATISTICS})"
            + (f", which the model was trained on for a share of its training loads (cmvn_typical_prob: "
               f"{', '.join(trained)})" if trained else ", which the model never saw in training"))


def default_train_dirs(fold_dir: Path, conf: dict, protocol: str | None) -> list[Path]:
    """The fold's training data dirs in a recipe: data/<protocol>/fold<k>/train (and valid when
    the model was fitted on train+valid), searched upwards from exp/<protocol>/<config>/fold<k>."""
    fold_dir = fold_dir.resolve()
    protocol = protocol or fold_dir.parent.parent.name
    parts = ["train", "valid"] if conf["train"].get("fit_on") == "train+valid" else ["train"]
    for base in fold_dir.parents:
        dirs = [base / "data" / protocol / fold_dir.name / p for p in parts]
        if all((d / "utt2spk").is_file() for d in dirs):
            return dirs
    return []


def attach_training_stats(inputs: dict[str, dict], dumps: dict[str, Path], train_dirs: list[Path]) -> None:
    """Store in each speaker-normalised input's record the training speakers' typical statistics,
    computed from the training dumps (`dumps`: input name -> its dump dir) as CMVNInput computes them."""
    if not train_dirs:
        return
    data = DataDir.combine([DataDir.load(d) for d in train_dirs]) if len(train_dirs) > 1 else DataDir.load(train_dirs[0])
    for name in speaker_normalised(inputs):
        source = open_input(name, inputs[name]["spec"], dumps[name].parent)
        (mean, std), num_speakers = typical_stats(source, data)
        inputs[name][FALLBACK_KEY] = {"statistics": f"{STATISTICS} of {num_speakers} training speakers",
                                      "data": [str(d) for d in train_dirs],
                                      "mean": mean.tolist(), "std": std.tolist()}


def missing_training_stats(inputs: dict[str, dict]) -> list[str]:
    return [n for n in speaker_normalised(inputs) if FALLBACK_KEY not in inputs[n]]


class SpeakerCMVN:
    """A computed input of the recogniser, normalised per speaker. A recording in `speakers` (utt
    -> speaker) uses its speaker's statistics over all of that speaker's recordings in this call
    plus those `seen` in earlier calls of the same recogniser (speaker -> accumulated sums, updated
    here), so recordings given one at a time converge on the statistics of a whole batch; one
    without a speaker uses the stored training statistics, or, without them, its own."""

    def __init__(self, inner, record: dict, speakers: dict[str, str], seen: dict):
        self.inner, self.speakers, self.seen = inner, speakers, seen
        self.name, self.info = inner.name, inner.info
        stored = record.get(FALLBACK_KEY)
        self.fallback = (torch.tensor(stored["mean"]), torch.tensor(stored["std"])) if stored else None
        self.statistics = stored["statistics"] if stored else None
        self._stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def missing(self, data, utts: list[str]) -> list[str]:
        return self.inner.missing(data, utts)

    def remedy(self, data_dir: str) -> str:
        return self.inner.remedy(data_dir)

    def length(self, data, utt: str) -> int:
        return self.inner.length(data, utt)

    def load(self, data, utt: str) -> torch.Tensor:
        x = self.inner.load(data, utt)
        spk = self.speakers.get(utt)
        if spk is None:
            return normalise(x, self.fallback if self.fallback is not None else moments([x]))
        if spk not in self._stats:  # once per call: this call's recordings join those seen before
            utts = [u for u, s in self.speakers.items() if s == spk]
            absent = set(self.inner.missing(data, utts))
            self.seen[spk] = accumulate((self.inner.load(data, u) for u in utts if u not in absent),
                                        self.seen.get(spk, (0, 0.0, 0.0)))
            self._stats[spk] = finish(self.seen[spk])
        return normalise(x, self._stats[spk])

    def note(self, utt: str) -> str | None:
        """Why the recording's normalisation differs from training, or None."""
        if utt in self.speakers:
            return None
        if self.fallback is not None:
            return (f"no speaker given: normalised with the training speakers' statistics ({self.statistics}) "
                    f"instead of its speaker's; {SPEAKER_HINT}")
        return ("trained with each speaker's mean and variance normalised; no speaker given and the pack holds "
                f"no training statistics, so the recording is normalised with its own; {SPEAKER_HINT}")
