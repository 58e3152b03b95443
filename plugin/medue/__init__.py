"""MedUE: unlearnable-example protection for medical imaging datasets.

The engine (I/O, intensity, masks, methods, metrics, jobs) imports without starting any server;
the MONAI Label plugin lives in ``medue.server`` and is imported only by the server process.
"""

__version__ = "0.1.0"
