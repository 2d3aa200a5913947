"""mer: multimodal (speech + text) emotion recognition recipes.

The Python entry point for a trained model is `mer.recognizer.Recognizer`; this package face
imports nothing, so that `python -m mer.bin.*` tools start without torch."""

__version__ = "0.1.0"
