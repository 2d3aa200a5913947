"""Model inputs and the datasets that read them: the floor that models, training and inference share.

It imports only `mer.data`, `mer.utils`, torch and numpy; nothing here knows a model or the trainer.
"""
from __future__ import annotations

from mer.inputs.dataset import (BucketBatchSampler, EmotionDataset, collate, open_datasets, pad_sequences,
                                rank_slice)
from mer.inputs.labels import LabelMap
from mer.inputs.sources import (CMVN_MODES, INPUT_TYPES, CMVNInput, DumpInput, FeatureDump, InputInfo, TextInput,
                                WaveformInput, check_cmvn, normalize_input_spec, open_input, open_inputs, with_cmvn)

__all__ = ["BucketBatchSampler", "EmotionDataset", "collate", "open_datasets", "pad_sequences", "rank_slice",
           "LabelMap", "CMVN_MODES", "INPUT_TYPES", "CMVNInput", "DumpInput", "FeatureDump", "InputInfo", "TextInput",
           "WaveformInput", "check_cmvn", "normalize_input_spec", "open_input", "open_inputs", "with_cmvn"]
