"""The benchmark's scores shipped with the package, and how an unchecked report quotes them."""

from __future__ import annotations

import pytest

from medue.methods import DEFAULT_METHOD
from medue.reference import benchmark_reference
from medue.report import _protection_summary, check_section


def test_the_default_release_quotes_real_data_of_both_regimes_and_both_attackers():
    """An unchecked report of the default release quotes DRIVE (where the pattern is learned)
    and the MSD lung CT (where it is buried), each with both attackers' scores."""
    reference = benchmark_reference(DEFAULT_METHOD, "balanced")
    assert reference is not None and "section 13" in reference["source"]
    names = list(reference["datasets"])
    assert any(n.startswith("DRIVE") for n in names) and any(n.startswith("MSD") for n in names)
    for result in reference["datasets"].values():
        assert result["rows"][0]["countermeasure"] == "none"
        for row in result["rows"]:
            for prefix in ("", "release_only_"):
                assert 0 <= row[f"{prefix}protected_dsc"] <= 1
                assert row[f"{prefix}ratio"] == pytest.approx(
                    row[f"{prefix}protected_dsc"] / row[f"{prefix}clean_dsc"]
                )


def test_the_older_lesion_releases_keep_their_countermeasure_scores():
    reference = benchmark_reference("pattern-blocks", "balanced")
    assert reference is not None and "BENCHMARKS.md" in reference["source"]
    for result in reference["datasets"].values():
        names = [row["countermeasure"] for row in result["rows"]]
        assert names[0] == "none" and {"median", "gaussian", "downup", "pgd"} <= set(names)


def test_a_method_without_benchmark_runs_has_no_reference():
    assert benchmark_reference("random-image", "strong") is None


def test_unchecked_report_quotes_the_benchmark_as_the_benchmark():
    page = check_section(None, benchmark_reference(DEFAULT_METHOD, "balanced"))
    assert "Not checked on this data" in page
    assert "on MedUE's own benchmarks" in page and "not this data" in page
    assert "<td>none</td>" in page and "DRIVE" in page and "MSD" in page
    assert "attacker with only the release" in page and "early-stops on clean data" in page
    assert "no countermeasure runs" in check_section(None, None)
    summary = _protection_summary(None, benchmark_reference(DEFAULT_METHOD, "balanced"))
    assert "for the attacker with only the release" in summary  # both attackers, named
    assert "for the attacker who early-stops on clean data" in summary


def test_salm_reports_say_what_the_classification_benchmark_measured():
    reference = benchmark_reference("salm", "strong")
    assert "not protective" in reference["note"] and "section 9" in reference["source"]
