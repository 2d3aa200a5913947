"""Figures drawn from saved decode outputs (never from a model): confusion, ROC, t-SNE."""
