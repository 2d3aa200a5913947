"""mer: multimodal (speech + text) emotion recognition recipes."""

__version__ = "0.1.0"


def __getattr__(name):
    # `from mer import Recognizer` without importing torch for every `python -m mer.bin.*` tool.
    if name == "Recognizer":
        from mer.recognizer import Recognizer

        return Recognizer
    raise AttributeError(f"module 'mer' has no attribute '{name}'")
