"""The GPU benchmark's code path, checked on the CPU with tiny models (no timing asserted)."""
from __future__ import annotations

import re

import pytest

from mer.bin import bench_gpu


@pytest.mark.slow
def test_gpu_bench_runs_and_prints_its_figures(capsys):
    assert bench_gpu.main(["--device", "cpu", "--tiny", "--steps", "2", "--dump-batches", "1", "--dump-batch", "2",
                           "--utt-seconds", "0.5", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"dump tiny HuBERT \(2 layers, 32-d.*RTF \d+\.\d+", out)
    assert re.search(r"train MemoCMT improved \(fp32, batch 4\): \d+ utt/s", out)


def test_gpu_bench_says_when_there_is_no_gpu(capsys, monkeypatch):
    monkeypatch.setattr(bench_gpu.torch.cuda, "is_available", lambda: False)
    assert bench_gpu.main(["--device", "cuda"]) == 0
    assert "no CUDA device visible" in capsys.readouterr().err
