"""AVVP Lab core: LLP data, SynthLLP, official-exact scoring, models, training and analysis."""

__version__ = "0.1.0"
