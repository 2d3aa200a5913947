"""Timings behind `make bench` (mer.bin.bench prints them)."""
