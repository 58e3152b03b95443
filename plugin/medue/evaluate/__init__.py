"""Measuring protection: train a victim on (protected) files, test it on clean ones."""

from medue.evaluate.countermeasures import COUNTERMEASURES, Countermeasure, get_countermeasure
from medue.evaluate.slices import SliceSet, load_slices
from medue.evaluate.victim import VictimConfig, VictimResult, train_victim
from medue.evaluate.victim3d import train_victim_3d
from medue.evaluate.volumes import VolumeSet, load_volumes

__all__ = [
    "COUNTERMEASURES",
    "Countermeasure",
    "SliceSet",
    "VictimConfig",
    "VictimResult",
    "VolumeSet",
    "get_countermeasure",
    "load_slices",
    "load_volumes",
    "train_victim",
    "train_victim_3d",
]
