"""Model inputs and the datasets that read them: the floor that models, training and inference share.

Input types (`type: dump | waveform | text` of a config's `inputs:` entry) are registered in
INPUT_TYPES (`mer.inputs.base`), one module each. This package imports only `mer.data`,
`mer.utils`, `mer.registry`, torch and numpy: nothing here knows a model or the trainer, so the
caller says which inputs a model reads (`mer.models.model_input_names`).
"""
from __future__ import annotations

from mer.inputs.base import INPUT_TYPES, AbsInput, InputInfo, register_input_type
from mer.inputs.cmvn import CMVN_MODES, CMVNInput, check_cmvn, with_cmvn
from mer.inputs.dataset import BucketBatchSampler, EmotionDataset, collate, open_datasets, pad_sequences, rank_slice
from mer.inputs.dump import DumpInput, FeatureDump
from mer.inputs.labels import LabelMap
from mer.inputs.spec import normalize_input_spec, open_input, open_inputs
from mer.inputs.text import TextInput
from mer.inputs.waveform import WaveformInput

__all__ = ["INPUT_TYPES", "AbsInput", "InputInfo", "register_input_type", "CMVN_MODES", "CMVNInput", "check_cmvn",
           "with_cmvn", "BucketBatchSampler", "EmotionDataset", "collate", "open_datasets", "pad_sequences",
           "rank_slice", "DumpInput", "FeatureDump", "LabelMap", "normalize_input_spec", "open_input", "open_inputs",
           "TextInput", "WaveformInput"]
