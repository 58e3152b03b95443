"""``medue.verify.references``: the conformal test against reference models, and its floor."""

from __future__ import annotations

import numpy as np
import pytest

from medue.io.volume import StoredEncoding
from medue.verify.references import MIN_RESPONSE, Calibration, rank_against_references
from medue.verify.report import decision_line
from medue.verify.segmentation import SegmentationProbes


def _calibration(responses: np.ndarray) -> Calibration:
    clean = np.full((responses.shape[1], 8, 8), 100.0)
    probes = SegmentationProbes(
        tuple(map(str, range(len(clean)))),
        clean,
        clean + 2,
        np.ones(clean.shape, bool),
        StoredEncoding(np.dtype(np.uint8)),
        (),
    )
    models = tuple({"file": f"r{i}.pt", "sha256": ""} for i in range(len(responses)))
    return Calibration(probes, responses, models)


def test_the_suspect_is_ranked_among_the_references():
    references = np.random.default_rng(0).normal(0.004, 0.002, (99, 4))
    result = rank_against_references(np.full(4, 0.5), _calibration(references))
    assert result.detected and result.p_value == pytest.approx(0.01)
    assert (
        result.amplitude == 2.0 and result.as_dict()["ranked_against"] == "clean reference models"
    )
    assert "detected: the suspect answers to this release's pattern" in decision_line(result)
    middle = rank_against_references(np.full(4, 0.004), _calibration(references))
    assert 0.2 < middle.p_value < 0.8 and not middle.detected


def test_a_stray_response_above_silent_references_is_not_detected():
    """References that all answer 0 rank any stray voxel first (p = 0.01): under the floor it is
    not a detection (a new user's untrained UNet answered +0.03 %)."""
    result = rank_against_references(np.full(4, 0.0003), _calibration(np.zeros((99, 4))))
    assert result.p_value == pytest.approx(0.01) and not result.detected
    assert result.as_dict()["classes"]["foreground"]["effect"] is None  # infinite: JSON null
    assert "not detected: the suspect outranks" in decision_line(result)
    assert rank_against_references(
        np.full(4, MIN_RESPONSE), _calibration(np.zeros((99, 4)))
    ).detected
