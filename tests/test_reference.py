"""The benchmark's scores shipped with the package, and how an unchecked report quotes them."""

from __future__ import annotations

from medue.methods import DEFAULT_METHOD
from medue.reference import benchmark_reference
from medue.report import check_section


def test_the_default_and_robust_releases_have_benchmark_scores():
    for preset in ("balanced", "robust"):
        reference = benchmark_reference(DEFAULT_METHOD, preset)
        assert reference is not None and "BENCHMARKS.md" in reference["source"]
        for result in reference["datasets"].values():
            names = [row["countermeasure"] for row in result["rows"]]
            assert names[0] == "none" and {"median", "gaussian", "downup", "pgd"} <= set(names)
            assert all(0 <= row["protected_dsc"] <= 1 for row in result["rows"])


def test_a_method_without_benchmark_runs_has_no_reference():
    assert benchmark_reference("random-image", "strong") is None


def test_unchecked_report_quotes_the_benchmark_as_the_benchmark():
    page = check_section(None, benchmark_reference(DEFAULT_METHOD, "balanced"))
    assert "Not checked on this data" in page
    assert "on MedUE's own benchmarks" in page and "not this data" in page
    assert "<td>median</td>" in page and "lesion" in page
    assert "no countermeasure runs" in check_section(None, None)


def test_salm_reports_say_what_the_classification_benchmark_measured():
    reference = benchmark_reference("salm", "strong")
    assert "not protective" in reference["note"] and "section 9" in reference["source"]
