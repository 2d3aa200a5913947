"""mer: multimodal (speech + text) emotion recognition recipes."""
from setuptools import find_packages, setup

setup(
    name="mer",
    version="0.1.0",
    description="Kaldi/ESPnet-style recipes for speech + text emotion recognition",
    packages=find_packages(include=["mer", "mer.*"]),
    python_requires=">=3.10",
    # Pinned versions live in requirements.txt; tools/install.sh installs them.
    install_requires=[
        "torch", "torchaudio", "transformers", "kaldiio", "sentencepiece", "pyyaml", "numpy",
        "matplotlib", "scikit-learn", "soundfile", "tqdm", "tensorboard",
    ],
    # Run a packed model (mer.bin.pack) on recordings without a recipe.
    entry_points={"console_scripts": ["mer-recognize = mer.bin.recognize:cli"]},
)
