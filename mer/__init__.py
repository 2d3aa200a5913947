"""mer: multimodal (speech + text) emotion recognition recipes."""

__version__ = "0.1.0"
