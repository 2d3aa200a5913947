"""Helpers shared by the test tree (not tests themselves): the repository root, audio files,
small dumped corpora, recipe runs."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
