"""Every model that learns a layer mix reports it (decode meta `model.layer_weights`), so stage 6
draws its layer-weight figure: an audio-only config as much as a fusion model."""
from __future__ import annotations

import torch

from mer.inputs import InputInfo
from mer.models import build_model
from mer.plots.layer_weights import layer_weights_by_stream, layer_weights_figure


def test_audio_only_model_reports_its_learned_layer_mix():
    model = build_model({"name": "audio_only", "aggregation": "mean"}, 4, {"audio": InputInfo("dump", 8, 3)})
    with torch.no_grad():
        next(m for m in model.modules() if type(m).__name__ == "LayerMix").weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
    weights = model.description()["layer_weights"]
    assert list(weights) == ["audio"] and len(weights["audio"]) == 3
    assert abs(sum(weights["audio"]) - 1) < 1e-5 and weights["audio"][2] > weights["audio"][1] > weights["audio"][0]
    assert model.description()["aggregation"] == "mean"  # the system's own description is kept
    fig = layer_weights_figure(layer_weights_by_stream([model.description()]), "audio_only")
    assert fig.axes


def test_a_single_layer_dump_has_no_mix_to_report():
    model = build_model({"name": "audio_only"}, 4, {"audio": InputInfo("dump", 8, 1)})
    assert "layer_weights" not in model.description()


def test_fusion_models_report_one_mix_per_stream():
    model = build_model({"name": "memocmt"}, 4, {"audio": InputInfo("dump", 8, 3), "text": InputInfo("dump", 6, 2)})
    assert set(model.description()["layer_weights"]) == {"audio", "text"}
