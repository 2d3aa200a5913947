"""`type: text`: the data dir's transcripts, a transcription dump, or any Kaldi `text` file."""
from __future__ import annotations

from pathlib import Path

from mer.data.datadir import DataDir
from mer.data.kaldi_io import read_kv
from mer.inputs.base import AbsInput, InputInfo, register_input_type


@register_input_type("text")
class TextInput(AbsInput):
    """Raw text: the data dir's transcripts, a transcription dump, or any Kaldi `text` file."""

    description = "raw text: the data dir's transcripts, a transcription dump or a Kaldi text file (keys: dump, file)"
    spec_keys = frozenset({"dump", "file"})

    def __init__(self, name: str, path: Path | None = None):
        self.name, self.path = name, path
        self.info = InputInfo("text")
        self._table = read_kv(path, allow_empty_value=True) if path is not None else None

    @classmethod
    def check_spec(cls, name: str, spec: dict) -> None:
        if spec.get("dump") and spec.get("file"):
            raise ValueError(f"config: inputs.{name}: give `dump` or `file`, not both")

    @classmethod
    def open(cls, name: str, spec: dict, dumpdir: Path, preload_max_mb: float):
        path = None
        if spec.get("dump"):
            path = Path(dumpdir) / spec["dump"] / "text"
        elif spec.get("file"):
            path = Path(spec["file"])
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{path} not found (inputs.{name}): run the stage that writes it")
        return cls(name, path)

    def describe(self) -> dict:
        return {"type": "text", "source": str(self.path) if self.path else "data dir text"}

    def _texts(self, data: DataDir) -> dict[str, str]:
        return self._table if self._table is not None else data.text

    def missing(self, data: DataDir, utts: list[str]) -> list[str]:
        texts = self._texts(data)
        return [u for u in utts if u not in texts]

    def remedy(self, data_dir: str) -> str:
        return f"add them to {self.path or data_dir + '/text'}"

    def length(self, data: DataDir, utt: str) -> int:
        return max(1, len(self._texts(data)[utt].split()))

    def load(self, data: DataDir, utt: str) -> str:
        return self._texts(data)[utt]
