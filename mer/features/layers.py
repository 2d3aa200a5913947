"""Which hidden layers of an encoder to keep: `last`, `all`, or a comma list of indices.

hidden_states from transformers hold num_layers + 1 tensors, the embedding output first, so index
0 is the input to the first transformer layer and -1 (or num_layers) the last layer's output.
Several layers are stored side by side along the feature axis: (frames, n_layers * dim).
"""
from __future__ import annotations


def parse_layers(spec: str, num_hidden_states: int) -> list[int]:
    spec = spec.strip()
    if spec == "last":
        return [num_hidden_states - 1]
    if spec == "all":
        return list(range(num_hidden_states))
    try:
        picked = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--layers must be 'last', 'all' or comma-separated integers, got '{spec}'") from None
    out = []
    for i in picked:
        j = i + num_hidden_states if i < 0 else i
        if not 0 <= j < num_hidden_states:
            raise ValueError(f"layer {i} out of range: the model has {num_hidden_states} hidden states "
                             f"(0 = embeddings .. {num_hidden_states - 1} = last layer)")
        out.append(j)
    if not out:
        raise ValueError("--layers selected no layer")
    return out
