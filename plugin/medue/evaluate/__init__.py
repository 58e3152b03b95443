"""Measuring protection: train a victim on (protected) files, test it on clean ones."""

from medue.evaluate.slices import SliceSet, load_slices
from medue.evaluate.victim import VictimConfig, VictimResult, train_victim

__all__ = ["SliceSet", "VictimConfig", "VictimResult", "load_slices", "train_victim"]
