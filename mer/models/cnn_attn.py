"""mel-CNN + BERT/Bi-GRU with attention fusion (Makhmudov, Kultimuratov and Cho, 2024): system B.

Speech: a log-mel spectrogram as a one-channel image (frequency x time); two parallel convolutions
(10,2) and (2,8), 8 channels each, concatenated to 16; four 3x3 convolutions of 32, 48, 64, 80
channels; batch norm and ReLU after every convolution; 2x2 max-pooling after the first two of the
four; then a fully connected layer. The paper says nothing of variable lengths: each spectrogram is
normalised per mel bin over its own frames (so zero padding is the utterance's mean), padded
positions are set back to zero after every block, and the 80 maps are averaged over frequency and
over the real frames only (masked global pooling), so a spectrogram's output does not depend on how
long the others in its batch are (batch-norm statistics while training aside). `frame_pool: k`
averages k frames first (a k x 10 ms hop, for CPU budgets); `max_frames` keeps the start of very
long clips only; `train_crop: n` trains on a random n-frame window of each longer utterance (an
augmentation that also saves time; inference always sees the whole utterance).

Text: a BERT utterance vector (a dumped frozen encoder, or one fine-tuned inside the model; tokens
mean- or CLS-pooled) -> FC to 100 -> a GRU (hidden 100) over the utterances of each dialogue
(`train.unit: dialogue`; `batch["dialog_lengths"]` says which rows form one) -> FC.
`context: bidirectional` is the paper's Bi-GRU (every turn sees past and future turns); `causal`
a one-way GRU (past turns only, as a deployed system would be); `none` drops the GRU.

Fusion (eqs. 1-3): both branches projected to n (250); F = [F_s, F_t] (n x 2); L = tanh(P F);
v = softmax(w^T L) in R^2; M = F v^T in R^n; FC to the classes. v is saved per utterance as the
extra output `fusion_weights` (columns: speech, text). `fusion: concat` is the ablation that
concatenates [F_s; F_t] instead. With one modality the projected branch goes straight to the FC.
"""
from __future__ import annotations

import torch
from torch import nn

from mer.models.abs_model import AbsEmotionModel, ModelOutput, register_model
from mer.models.pooling import pool
from mer.models.streams import build_stream
from mer.utils.choices import check_choice

MODALITIES = ("speech", "text")
CONTEXTS = ("bidirectional", "causal", "none")
FUSIONS = ("attention", "concat")


def _conv_bn_relu(cin: int, cout: int, kernel) -> nn.Sequential:
    """'same' convolution (explicit zero padding, the extra row/column after for even kernels)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    pad = nn.ZeroPad2d(((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2))
    return nn.Sequential(pad, nn.Conv2d(cin, cout, (kh, kw)), nn.BatchNorm2d(cout), nn.ReLU())


class MelCNN(nn.Module):
    """(B, T, F) log-mel frames with a (B, T) mask -> (B, out_dim)."""

    def __init__(self, out_dim: int, parallel_channels: int = 8, channels=(32, 48, 64, 80),
                 pool_after: int = 2, normalize: bool = True, frame_pool: int = 1, max_frames: int | None = None,
                 train_crop: int | None = None):
        super().__init__()
        self.normalize, self.frame_pool, self.max_frames = normalize, frame_pool, max_frames
        self.train_crop = train_crop
        self.branch_a = _conv_bn_relu(1, parallel_channels, (10, 2))
        self.branch_b = _conv_bn_relu(1, parallel_channels, (2, 8))
        blocks, cin = [], 2 * parallel_channels
        for cout in channels:
            blocks.append(_conv_bn_relu(cin, cout, 3))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.pool_after = pool_after
        self.fc = nn.Linear(cin, out_dim)

    @staticmethod
    def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x * mask[:, None, None, : x.shape[-1]].to(x.dtype)

    @staticmethod
    def _random_crop(x: torch.Tensor, mask: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """While training: a random window of n frames from each utterance longer than n."""
        lengths = mask.sum(1)
        starts = (torch.rand(len(x), device=x.device) * (lengths - n).clamp(min=0).add(1)).long()
        idx = (starts[:, None] + torch.arange(min(n, x.shape[1]), device=x.device)[None]).clamp(max=x.shape[1] - 1)
        x = torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[2]))
        return x, torch.gather(mask, 1, idx) & (idx < (starts + lengths.clamp(max=n))[:, None])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.max_frames:  # the start of very long clips only (MELD has a 305 s one)
            x, mask = x[:, : self.max_frames], mask[:, : self.max_frames]
        if self.frame_pool > 1:  # a coarser hop (k x 10 ms): k times less convolution work
            k, m = self.frame_pool, mask[:, None].to(x.dtype)
            total = nn.functional.avg_pool1d(x.transpose(1, 2) * m, k, ceil_mode=True)
            count = nn.functional.avg_pool1d(m, k, ceil_mode=True)  # real frames in each window
            x = (total / count.clamp(min=1e-6)).transpose(1, 2)
            mask = count[:, 0] > 0
        if self.training and self.train_crop:
            x, mask = self._random_crop(x, mask, self.train_crop)
        if self.normalize:  # per utterance and mel bin, over its real frames
            m = mask.unsqueeze(-1).to(x.dtype)
            n = m.sum(1, keepdim=True).clamp(min=1)
            mean = (x * m).sum(1, keepdim=True) / n
            std = ((((x - mean) * m) ** 2).sum(1, keepdim=True) / n).clamp(min=1e-8).sqrt()
            x = (x - mean) / std * m
        x = x.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T): frequency up, time across
        x = self._masked(torch.cat([self.branch_a(x), self.branch_b(x)], dim=1), mask)
        for i, block in enumerate(self.blocks):
            x = self._masked(block(x), mask)  # before pooling: padding must not win a max
            if i < self.pool_after:
                x = nn.functional.max_pool2d(x, 2, ceil_mode=True)
                mask = nn.functional.max_pool1d(mask[:, None].float(), 2, ceil_mode=True)[:, 0] > 0
        x = x.mean(dim=2).transpose(1, 2)  # (B, T', C): mean over frequency
        return self.fc(pool(x, "mean", mask[:, : x.shape[1]]))


class DialogueGRU(nn.Module):
    """A GRU over each dialogue's consecutive rows: (N, D) utterance vectors -> (N, H or 2H)."""

    def __init__(self, dim: int, hidden: int, bidirectional: bool):
        super().__init__()
        self.gru = nn.GRU(dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.out_dim = hidden * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, dialog_lengths: torch.Tensor) -> torch.Tensor:
        lengths = [int(n) for n in dialog_lengths]
        if sum(lengths) != x.shape[0]:
            raise ValueError(f"dialog_lengths sum to {sum(lengths)} but the batch has {x.shape[0]} rows")
        padded = nn.utils.rnn.pad_sequence(list(torch.split(x, lengths)), batch_first=True)
        packed = nn.utils.rnn.pack_padded_sequence(padded, torch.tensor(lengths), batch_first=True,
                                                   enforce_sorted=False)
        h, _ = self.gru(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=padded.shape[1])
        return torch.cat([h[i, :n] for i, n in enumerate(lengths)])


class AttentionFusion(nn.Module):
    """Eqs. 1-3: L = tanh(P F); v = softmax(w^T L); M = F v^T, with F = [F_s, F_t] (n x 2)."""

    def __init__(self, dim: int):
        super().__init__()
        self.P = nn.Linear(dim, dim, bias=False)
        self.w = nn.Linear(dim, 1, bias=False)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # feats (N, 2, n): the modalities as rows (the paper's columns of F)
        v = torch.softmax(self.w(torch.tanh(self.P(feats))).squeeze(-1), dim=-1)  # (N, 2)
        return (feats * v.unsqueeze(-1)).sum(dim=1), v


@register_model("cnn_attn")
class CnnAttn(AbsEmotionModel):
    """System B. Inputs: `speech` (a log-mel dump) and/or `text` (a text-encoder dump or raw text)."""

    @classmethod
    def input_names(cls, conf: dict) -> tuple[str, ...]:
        return tuple(conf.get("modalities", MODALITIES))

    def __init__(self, num_classes: int, input_infos: dict, modalities=MODALITIES, fusion: str = "attention",
                 context: str = "bidirectional", fusion_dim: int = 250, text_dim: int = 100,
                 gru_hidden: int = 100, text_pooling: str = "mean", dropout: float = 0.3,
                 cnn_channels=(32, 48, 64, 80), parallel_channels: int = 8, normalize_mel: bool = True,
                 frame_pool: int = 1, max_frames: int | None = None, train_crop: int | None = None,
                 encoders: dict | None = None):
        super().__init__()
        self.modalities = tuple(modalities)
        if not self.modalities or set(self.modalities) - set(MODALITIES) or len(set(self.modalities)) != len(
                self.modalities):
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {list(modalities)}")
        check_choice("context", context, CONTEXTS)
        check_choice("fusion", fusion, FUSIONS)
        self.fusion_kind, self.context, self.text_pooling = fusion, context, text_pooling
        encoders = encoders or {}
        self.drop = nn.Dropout(dropout)
        if "speech" in self.modalities:
            self.speech = build_stream("speech", input_infos["speech"], encoders.get("speech"))
            self.cnn = MelCNN(fusion_dim, parallel_channels, tuple(cnn_channels), normalize=normalize_mel,
                              frame_pool=frame_pool, max_frames=max_frames, train_crop=train_crop)
        if "text" in self.modalities:
            self.text = build_stream("text", input_infos["text"], encoders.get("text"))
            self.text_fc = nn.Linear(self.text.out_dim, text_dim)
            self.gru = None
            out = text_dim
            if context != "none":
                self.gru = DialogueGRU(text_dim, gru_hidden, bidirectional=context == "bidirectional")
                out = self.gru.out_dim
            self.text_proj = nn.Linear(out, fusion_dim)
        two = len(self.modalities) == 2
        self.attention = AttentionFusion(fusion_dim) if two and fusion == "attention" else None
        head_in = 2 * fusion_dim if two and fusion == "concat" else fusion_dim
        self.head = nn.Linear(head_in, num_classes)

    def branch_modules(self) -> dict[str, tuple[str, ...]]:
        """The submodules of each branch (`model.init` copies a branch from another run)."""
        out = {}
        if "speech" in self.modalities:
            out["speech"] = ("speech", "cnn")
        if "text" in self.modalities:
            out["text"] = ("text", "text_fc", "gru", "text_proj")
        return out

    def _speech(self, batch: dict) -> torch.Tensor:
        x, mask = self.speech(batch)
        return self.cnn(x, mask)

    def _text(self, batch: dict) -> torch.Tensor:
        x, mask = self.text(batch)
        u = self.drop(torch.relu(self.text_fc(pool(x, self.text_pooling, mask))))
        if self.gru is not None:
            u = self.gru(u, batch["dialog_lengths"].cpu())
        return self.text_proj(self.drop(u))

    def forward(self, batch: dict) -> ModelOutput:
        branches = {}
        if "speech" in self.modalities:
            branches["speech"] = self._speech(batch)
        if "text" in self.modalities:
            branches["text"] = self._text(batch)
        extras = {}
        if len(branches) == 1:
            fused = next(iter(branches.values()))
        elif self.attention is not None:
            fused, v = self.attention(torch.stack([branches["speech"], branches["text"]], dim=1))
            extras["fusion_weights"] = v
        else:
            fused = torch.cat([branches["speech"], branches["text"]], dim=-1)
        return ModelOutput(self.head(self.drop(fused)), fused, extras=extras)

    def describe(self) -> dict:
        out = {"modalities": list(self.modalities), "context": self.context if "text" in self.modalities else None,
               "fusion": self.fusion_kind if len(self.modalities) == 2 else None}
        if self.attention is not None:
            out["extra_output_columns"] = {"fusion_weights": ["speech", "text"]}
        return out
