"""LSTM + two fully connected layers (system C's speech and text classifiers).

One class for every classifier of the hierarchy: what it reads decides what it is.

- speech on acoustic features: `inputs: [mfcc]` (frames), or several utterance-level vectors side
  by side (`inputs: [mfcc, handcrafted, gemaps]` with `frames: mean`: the paper's 39 mean MFCCs,
  eight hand-crafted features and GeMAPS functionals as one vector);
- speech on an encoder: a dump of several layers (learned layer mix), or raw audio with
  `encoders.<input>` (wav2vec 2.0 fine-tuned with its CNN feature encoder frozen);
- text: `inputs: [text]` over dumped BERT token states (t x 768).

Per input: optional mean over frames (`frames: mean`) or over windows of `frame_stride` frames
(a shorter sequence, for 50 Hz encoder frames on a CPU), then (optionally) batch normalisation of each feature over
the batch's real frames (acoustic features differ in scale by orders of magnitude: Hz, ratios,
dB). The inputs are concatenated feature-wise (they must then have the same number of frames: one,
with `frames: mean`), run through a (bi)LSTM with packed sequences (padding never reaches it), the
LSTM's final states (or the mean of its outputs) -> FC(hidden) -> ReLU -> dropout -> FC(classes).
The hidden FC output is the embedding saved for t-SNE.
"""
from __future__ import annotations

import torch
from torch import nn

from mer.models.abs_model import AbsEmotionModel, ModelOutput, register_model
from mer.models.pooling import pool
from mer.models.streams import build_stream

FRAMES = ("sequence", "mean")
SUMMARIES = ("last", "mean")
INPUT_NORMS = ("batch", "none")


def _input_list(conf: dict) -> tuple[str, ...]:
    names = conf.get("inputs", ("audio",))
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ValueError("config: model.inputs (lstm_fc) must name at least one input")
    return names


def _window_means(x: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Means of non-overlapping windows of k frames (real frames only): a k times shorter sequence."""
    b, t, d = x.shape
    pad = (-t) % k
    x = nn.functional.pad(x, (0, 0, 0, pad)).view(b, -1, k, d)
    m = nn.functional.pad(mask, (0, pad)).view(b, -1, k)
    w = m.unsqueeze(-1).to(x.dtype)
    return (x * w).sum(2) / w.sum(2).clamp(min=1), m.any(2)


def _final_states(out: torch.Tensor, lengths: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """The top layer's final state of each direction, read from its padded outputs (B, T, H or 2H):
    forward at each utterance's last frame, backward at its first. The same values as the LSTM's h_n,
    taken so that the model exports to ONNX (the exporter fails on h_n of a packed sequence)."""
    hidden = out.shape[-1] // (2 if bidirectional else 1)
    last = out[torch.arange(out.shape[0], device=out.device), lengths.to(out.device) - 1]
    return torch.cat([last[:, :hidden], out[:, 0, hidden:]], dim=-1) if bidirectional else last


@register_model("lstm_fc")
class LstmFc(AbsEmotionModel):
    """System C's classifiers: an LSTM over features (or their frame mean) and two FC layers."""

    @classmethod
    def input_names(cls, conf: dict) -> tuple[str, ...]:
        return _input_list(conf)

    def __init__(self, num_classes: int, input_infos: dict, inputs=("audio",), frames: str = "sequence",
                 input_norm: str = "batch", lstm_hidden: int = 128, lstm_layers: int = 1,
                 bidirectional: bool = True, summary: str = "last", fc_hidden: int = 128, dropout: float = 0.3,
                 encoders: dict | None = None, normalize_layers: bool = True, frame_stride: int = 1):
        super().__init__()
        for key, value, allowed in (("frames", frames, FRAMES), ("summary", summary, SUMMARIES),
                                    ("input_norm", input_norm, INPUT_NORMS)):
            if value not in allowed:
                raise ValueError(f"model.{key} (lstm_fc) must be one of {allowed}, got '{value}'")
        self.names = _input_list({"inputs": inputs})
        if len(self.names) > 1 and frames != "mean":
            raise ValueError("model.frames must be 'mean' when lstm_fc reads several inputs "
                             f"({', '.join(self.names)}): their frame rates differ")
        self.frames, self.summary = frames, summary
        if int(frame_stride) < 1:
            raise ValueError(f"model.frame_stride (lstm_fc) must be >= 1, got {frame_stride}")
        self.frame_stride = int(frame_stride)
        self.streams = nn.ModuleDict({n: build_stream(n, input_infos[n], (encoders or {}).get(n), normalize_layers)
                                      for n in self.names})
        dim = sum(s.out_dim for s in self.streams.values())
        self.norm = nn.BatchNorm1d(dim) if input_norm == "batch" else None
        self.lstm = nn.LSTM(dim, lstm_hidden, num_layers=lstm_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if lstm_layers > 1 else 0.0)
        out = lstm_hidden * (2 if bidirectional else 1)
        self.fc1 = nn.Sequential(nn.Dropout(dropout), nn.Linear(out, fc_hidden), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Dropout(dropout), nn.Linear(fc_hidden, num_classes))

    def _features(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        xs, mask = [], None
        for name, stream in self.streams.items():
            x, m = stream(batch)
            if self.frames == "mean":
                x, m = pool(x, "mean", m).unsqueeze(1), torch.ones_like(m[:, :1])
            elif self.frame_stride > 1:
                x, m = _window_means(x, m, self.frame_stride)
            xs.append(x)
            mask = m
        return torch.cat(xs, dim=-1), mask

    def forward(self, batch: dict) -> ModelOutput:
        x, mask = self._features(batch)
        if self.norm is not None:  # statistics over real frames only
            real = x[mask]
            # one frame in a training batch (a last batch of one utterance-level vector) has no
            # batch statistics: use the running ones
            norm = nn.functional.batch_norm(real, self.norm.running_mean, self.norm.running_var, self.norm.weight,
                                            self.norm.bias, False, 0.0, self.norm.eps) \
                if self.training and real.shape[0] < 2 else self.norm(real)
            x = x.masked_scatter(mask.unsqueeze(-1), norm)
        lengths = mask.sum(1).clamp(min=1)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        if self.summary == "last":
            summary = _final_states(out, lengths, self.lstm.bidirectional)
        else:
            summary = pool(out, "mean", mask)
        embedding = self.fc1(summary)
        return ModelOutput(self.fc2(embedding), embedding)
