"""Wiring between MONAI Label and ``medue`` (no protection logic here)."""
