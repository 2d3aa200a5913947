"""Recognise emotions in recordings with a trained model, outside its recipe.

    from mer.recognizer import Recognizer
    r = Recognizer.from_pretrained("model.tar.gz")      # a pack (mer.bin.pack) or an exp dir
    r("speech.wav", text="what was said")              # -> {"utt", "label", "posteriors", ...}
    r(["a.wav", "b.wav"], text=["...", "..."])          # a list in, a list out
    Recognizer.from_pretrained("model.tar.gz", asr="whisper-tiny.en")("a.wav")  # transcribed
    r(["a.wav", "b.wav"], speaker="spk7")               # a speaker-normalised model: who speaks

Every input of the model is computed on the fly from the recording: a dump's features with the
extractor rebuilt from the settings the dump recorded (`mer.features.build_extractor_from_settings`,
the code of `mer.bin.dump_feats`), raw audio through the one audio loader, text as given or
transcribed with Whisper (`mer.asr.transcribe`). The model then runs through the same dataset and
batching as `mer.bin.infer` (`EmotionDataset`, `mer.inference.predict`), so a recording of the
recipe's test set gets the posteriors of its decode dir.

A result names in `differs` each input that cannot equal what the model was trained on (a model
trained on Whisper transcripts given typed text, say), and why; and what about the recording makes
its label doubtful (`mer.recording_notes`: too short for one encoder frame, silent, encoded in
windows, cut), each also logged as a warning (stderr). Audio longer than an encoder's window is
encoded in consecutive windows by the dumps' own code (`mer.features.windows`), never cut.

An input normalised per speaker (`cmvn: speaker`) is normalised with the statistics of all the
recordings given for the same speaker, as in training, in this call and in the recogniser's earlier
calls (so a speaker's recordings given one at a time are normalised with the statistics of all
recordings so far: `forget_speakers()` drops them); a recording without a speaker gets the
training speakers' statistics that the pack stores (`mer.deploy_cmvn`), and `differs` says so.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mer.data.audio import TARGET_SR, AudioError, load_audio, resample
from mer.packing import ASR_KEYS, asr_words
from mer.trained_model import TrainedModel, input_info, load_trained_model

log = logging.getLogger("mer.recognizer")


class RecognitionError(RuntimeError):
    """Recordings that could not be recognised: `failures` (utt -> reason) and the `results` of
    the others."""

    def __init__(self, failures: dict[str, str], results: list[dict]):
        self.failures, self.results = failures, results
        super().__init__("; ".join(f"{u}: {r}" for u, r in failures.items()))


@dataclass
class Recording:
    """One recording: a wav.scp entry (a path, or a command ending in '|') or samples at 16 kHz."""

    utt: str
    source: str | None = None
    wave: np.ndarray | None = None
    speaker: str | None = None  # groups recordings for per-speaker CMVN
    _loaded: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def load(self, sample_rate: int = TARGET_SR) -> np.ndarray:
        if sample_rate not in self._loaded:
            if self.wave is not None:
                wave = np.asarray(self.wave, dtype=np.float32)
                if wave.ndim != 1 or len(wave) == 0:
                    raise AudioError(None, "array", f"need a non-empty 1-D array of 16 kHz samples, "
                                                    f"got shape {wave.shape}")
                self._loaded[sample_rate] = resample(wave, TARGET_SR, sample_rate)
            else:
                self._loaded[sample_rate] = load_audio(self.source, target_sr=sample_rate)
        return self._loaded[sample_rate]


class ComputedInput:
    """A model input computed here, per utterance (the counterpart of a dump or of the audio
    `mer.inputs` reads in the recipe); same interface as those sources."""

    def __init__(self, name: str, info, values: dict[str, torch.Tensor]):
        self.name, self.info, self.values = name, info, values

    def missing(self, data, utts: list[str]) -> list[str]:
        return [u for u in utts if u not in self.values]

    def remedy(self, data_dir: str) -> str:
        return "it could not be computed"

    def length(self, data, utt: str) -> int:
        return int(self.values[utt].shape[0])

    def load(self, data, utt: str) -> torch.Tensor:
        return self.values[utt]


class Recognizer:
    def __init__(self, trained: TrainedModel, device: str = "auto", asr: str | None = None,
                 asr_beam_size: int | None = None, asr_language: str | None = None, batch_size: int = 16,
                 load_encoders: bool = True):
        """`trained`: a model loaded on its input records (`load_trained_model(path)`)."""
        from mer.utils.device import pick_device

        if trained.inputs is None:
            raise ValueError(f"{trained.checkpoint}: the recogniser computes inputs from audio, so it needs the "
                             f"model's input records: load it without from_dumps")
        self.trained, self.conf, self.classes = trained, trained.conf, trained.classes
        self.inputs = trained.inputs
        self.device_name, self.device = device, pick_device(device)
        self.batch_size = batch_size
        self.label_map = trained.label_map
        self.model = trained.model
        self.model.to(self.device).eval()
        self.amp = trained.amp(self.device)
        self.text_inputs = [n for n, r in self.inputs.items() if r["kind"] == "text"]
        self.asr = None
        if asr and self.text_inputs:
            trained = next((r["transcription"] for r in self.inputs.values() if r.get("transcription")), {})
            self.asr = {"model": asr,
                        "beam_size": asr_beam_size or trained.get("beam_size") or 1,
                        "language": asr_language if asr_language is not None else trained.get("language")}
        elif asr:
            log.warning("the model reads no text; the ASR model %s is not used", asr)
        self._extractors: dict[str, object] = {}
        self._transcriber = None
        # input -> speaker -> accumulated frame sums (mer.deploy_cmvn.SpeakerCMVN) of the recordings
        # recognised so far with that speaker given; forget_speakers() starts afresh
        self.seen_speakers: dict[str, dict] = {}
        if load_encoders:
            self.load_encoders()

    @classmethod
    def from_pretrained(cls, path: str | Path, fold: int | None = None, dumpdir: str | Path | None = None,
                        **kwargs) -> "Recognizer":
        """A pack (`mer.bin.pack`) or an experiment dir (fold dir, or a config dir with one fold)."""
        return cls(load_trained_model(path, fold=fold, dumpdir=dumpdir), **kwargs)

    # ------------------------------------------------------------ what the model needs

    def text_help(self, cli: bool = True) -> str:
        """What to pass when the model reads text and none was given."""
        names = ", ".join(f"'{n}' ({self.inputs[n]['text_from']})" for n in self.text_inputs)
        trained_asr = next((r["transcription"] for r in self.inputs.values() if r.get("transcription")), None)
        hint = trained_asr["model"] if trained_asr else "whisper-tiny.en"
        if cli:
            return (f"the model reads text: input {names}; pass --text 'TRANSCRIPT' (one recording), "
                    f"--text-file FILE (Kaldi text: <wav.scp id or file stem> <transcript>), or --asr MODEL "
                    f"to transcribe with Whisper (e.g. --asr {hint})")
        return (f"the model reads text: input {names}; pass text=... or load it with "
                f"Recognizer.from_pretrained(path, asr='{hint}') to transcribe")

    def static_differences(self) -> dict[str, str]:
        """Inputs that differ from training whatever the recording."""
        out = {}
        for name, rec in self.inputs.items():
            if (rec.get("features") or {}).get("compress"):
                out[name] = (f"the training dump was stored with kaldiio compression "
                             f"{rec['features']['compress']} (lossy); computed here without it")
        if self.conf["train"]["unit"] == "dialogue":
            out["context"] = "trained on whole dialogues; each recording is recognised alone"
        return out

    def _text_differences(self, origin: str) -> dict[str, str]:
        out = {}
        for name in self.text_inputs:
            rec = self.inputs[name]
            trained = rec.get("transcription")
            if origin == "given" and trained:
                out[name] = f"trained on {rec['text_from']}; given text instead"
            elif origin == "asr" and (not trained or not _same_asr(trained, self.asr)):
                out[name] = f"trained on {rec['text_from']}; transcribed here ({asr_words(self.asr)})"
        return out

    def forget_speakers(self) -> None:
        """Drop the speaker statistics gathered from earlier calls (a speaker-normalised model)."""
        self.seen_speakers.clear()

    # ------------------------------------------------------------ computing

    def load_encoders(self) -> None:
        """Load the feature extractors (and the Whisper transcriber) now rather than on first use.
        Raises PretrainedError / OSError when an encoder named by the pack is not available here."""
        from mer.asr.run import load_transcriber

        for name, rec in self.inputs.items():
            if rec["spec"]["type"] == "dump":
                self._extractor(name)
        if self.asr and self._transcriber is None:
            self._transcriber = load_transcriber(self.asr["model"], self.asr["beam_size"], self.asr["language"],
                                                 self.device_name)

    def _extractor(self, name: str):
        from mer.features import build_extractor_from_settings

        settings = self.inputs[name]["features"]
        key = repr(sorted(settings.items()))
        if key not in self._extractors:
            self._extractors[key] = build_extractor_from_settings(settings, self.device_name)
        return self._extractors[key]

    def _features(self, name: str, sources: dict[str, object], failed: dict[str, str]) -> dict[str, torch.Tensor]:
        """A dump input's features, batched as mer.bin.dump_feats batches them."""
        from mer.features.windows import encode_in_windows

        settings = self.inputs[name]["features"]
        extractor = self._extractor(name)
        audio = extractor.kind == "audio"
        batch_size = int(settings.get("batch_size") or 8) if getattr(extractor, "batchable", True) else 1
        max_seconds = float(settings.get("max_batch_seconds") or 120.0) if audio else float("inf")
        items = [(u, x, len(x) / TARGET_SR if audio else float(len(x))) for u, x in sources.items()]
        return {utt: torch.from_numpy(np.ascontiguousarray(mat, dtype=np.float32))
                for utt, mat in encode_in_windows(extractor, items, batch_size, max_seconds, failed)}

    def _recording_differences(self, wave: np.ndarray) -> dict[str, str]:
        """Notes on the recording itself (mer.recording_notes): short, silent, windowed, cut."""
        from mer.recording_notes import DEFAULT_RECEPTIVE_FIELD_S, cut_note, short_or_silent, windows_note

        notes, fields = {}, [DEFAULT_RECEPTIVE_FIELD_S]
        for name, rec in self.inputs.items():
            if rec["spec"]["type"] == "dump" and rec["kind"] == "audio":
                extractor = self._extractor(name)
                window = getattr(extractor, "audio_window", None)
                fields.append(window.receptive_field / TARGET_SR if window else DEFAULT_RECEPTIVE_FIELD_S)
                notes[f"{name}.windows"] = windows_note(extractor, len(wave))
            elif rec["spec"]["type"] == "waveform" and rec["spec"].get("max_seconds"):
                notes[f"{name}.cut"] = cut_note(len(wave), TARGET_SR, float(rec["spec"]["max_seconds"]))
        return {**short_or_silent(wave, max(fields)), **{k: v for k, v in notes.items() if v}}

    def _transcribe(self, waves: dict[str, np.ndarray], failed: dict[str, str]) -> dict[str, str]:
        from mer.asr import transcribe

        self.load_encoders()
        utts = list(waves)
        try:
            return dict(zip(utts, transcribe([waves[u] for u in utts], self._transcriber)))
        except Exception as e:  # noqa: BLE001 - isolate the recording that breaks the batch
            if len(utts) == 1:
                failed[utts[0]] = f"transcription failed: {e.__class__.__name__}: {e}"
                return {}
            out = {}
            for u in utts:
                out.update(self._transcribe({u: waves[u]}, failed))
            return out

    def recognize(self, recordings: list[Recording], texts: list[str | None] | None = None
                  ) -> tuple[list[dict], dict[str, str]]:
        """Results (in the order of `recordings`, failed ones left out) and failures (utt -> reason).
        `texts[i]`: the transcript of recording i, or None (transcribed with the ASR model, if any)."""
        from mer.data.datadir import DataDir
        from mer.inference import predict
        from mer.deploy_cmvn import SpeakerCMVN
        from mer.inputs import EmotionDataset, TextInput, with_cmvn

        texts = list(texts) if texts is not None else [None] * len(recordings)
        keys = [r.utt for r in recordings]
        if len(set(keys)) < len(keys):  # the same file twice: keep both apart
            keys = [f"{i}:{u}" for i, u in enumerate(keys)]
        by_key = dict(zip(keys, recordings))
        failed: dict[str, str] = {}
        waves = {}
        for k, rec in by_key.items():
            try:
                waves[k] = rec.load()
            except AudioError as e:
                failed[k] = str(e)
        transcripts, origin = {}, {}
        if self.text_inputs:
            for k, t in zip(keys, texts):
                if k in waves and t is not None:
                    transcripts[k], origin[k] = t, "given"
            todo = {k: w for k, w in waves.items() if k not in transcripts}
            if todo and self.asr:
                for k, hyp in self._transcribe(todo, failed).items():
                    transcripts[k], origin[k] = hyp, "asr"
            elif todo:
                for k in todo:
                    failed[k] = "no transcript given, and no ASR model to transcribe it"
        ready = [k for k in keys if k in waves and k not in failed]
        speakers = {k: by_key[k].speaker for k in ready if by_key[k].speaker is not None}
        sources: dict = {}
        for name, rec in self.inputs.items():
            spec = rec["spec"]
            if spec["type"] == "dump":
                raw = {k: transcripts[k] if rec["kind"] == "text" else waves[k] for k in ready if k not in failed}
                values = self._features(name, raw, failed)
            elif spec["type"] == "waveform":
                sr, cut = int(spec.get("sample_rate") or TARGET_SR), spec.get("max_seconds")
                values = {}
                for k in ready:
                    w = by_key[k].load(sr)
                    values[k] = torch.from_numpy(w[: int(cut * sr)] if cut else w)
            else:
                sources[name] = TextInput(name)
                continue
            computed = ComputedInput(name, input_info(rec), values)
            sources[name] = (SpeakerCMVN(computed, rec, speakers, self.seen_speakers.setdefault(name, {}))
                             if spec.get("cmvn") == "speaker" else with_cmvn(computed, spec))
        ready = [k for k in ready if k not in failed]
        results: list[dict] = []
        if ready:
            data = DataDir(utt2spk={k: speakers.get(k, k) for k in ready}, text={k: transcripts[k] for k in ready if k in transcripts})
            if self.conf["train"]["unit"] == "dialogue":  # each recording a dialogue of one turn
                data.extra = {"utt2dialog": {k: k for k in ready}, "utt2turn": {k: "0" for k in ready}}
            dataset = EmotionDataset(data, self.label_map, sources, unit=self.conf["train"]["unit"], training=False)
            p = predict(self.model, dataset, self.device, self.batch_size, self.amp)
            row = {k: i for i, k in enumerate(p["utts"])}
            static = self.static_differences()
            for k in ready:
                post = p["posteriors"][row[k]].tolist()
                recording = self._recording_differences(waves[k])
                cmvn = {f"{n}.cmvn": s.note(k) for n, s in sources.items() if isinstance(s, SpeakerCMVN)}
                for why in recording.values():  # the label is printed anyway: say why it is doubtful
                    log.warning("%s: %s", by_key[k].utt, why)
                results.append({
                    "utt": by_key[k].utt, "label": self.classes[int(np.argmax(post))],
                    "posteriors": dict(zip(self.classes, post)), "transcript": transcripts.get(k),
                    "seconds": round(len(waves[k]) / TARGET_SR, 3),
                    "differs": {**static, **{n: why for n, why in cmvn.items() if why}, **recording,
                                **(self._text_differences(origin[k]) if k in origin else {})}})
        return results, {by_key[k].utt: reason for k, reason in failed.items()}

    def __call__(self, audio, text=None, speaker=None):
        """`audio`: a path, a wav.scp entry, or 16 kHz mono samples (numpy), or a list of them;
        `text`: the transcript(s), where the model reads text; `speaker`: who speaks (one name for
        all, or one per recording, None where unknown), for a model normalised per speaker. A dict
        per recording (a list for a list); RecognitionError names the recordings that failed."""
        single = not isinstance(audio, (list, tuple))
        audios = [audio] if single else list(audio)
        texts = [text] if single else (list(text) if text is not None else [None] * len(audios))
        speakers = list(speaker) if isinstance(speaker, (list, tuple)) else [speaker] * len(audios)
        if len(texts) != len(audios) or len(speakers) != len(audios):
            raise ValueError(f"{len(audios)} recordings but {len(texts)} texts and {len(speakers)} speakers")
        recs = []
        for i, a in enumerate(audios):
            if isinstance(a, (np.ndarray, torch.Tensor)):
                recs.append(Recording(f"array{i}", wave=np.asarray(a), speaker=speakers[i]))
            else:
                recs.append(Recording(str(a), source=str(a), speaker=speakers[i]))
        if self.text_inputs and not self.asr and any(t is None for t in texts):
            raise ValueError(self.text_help(cli=False))
        results, failed = self.recognize(recs, texts)
        if failed:
            raise RecognitionError(failed, results)
        return results[0] if single else results


def _same_asr(trained: dict, now: dict) -> bool:
    """Same Whisper model (by name or by the directory the name resolves to), beam and language."""
    if any(trained.get(k) != now.get(k) for k in ASR_KEYS if k != "model"):
        return False
    if trained.get("model") == now.get("model"):
        return True
    from mer.pretrained import resolve_model

    try:
        return str(resolve_model(trained["model"])) == str(resolve_model(now["model"]))
    except Exception:  # noqa: BLE001 - a name that does not resolve here is simply not the same
        return False
