"""Figures drawn from saved decode outputs (never from a model): each kind registers itself
(mer.plots.figures.register_figure); stage 6 draws every registered one."""
