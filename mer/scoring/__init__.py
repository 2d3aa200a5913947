"""Scoring of decode directories, fold aggregation and RESULTS.md generation."""
