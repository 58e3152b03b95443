"""The PNG plots: written atomically as real PNGs, robust to a release missing a countermeasure."""

from __future__ import annotations

from pathlib import Path

from medue.evaluate.plots import countermeasure_ratios, metric_vs_psnr

PNG = b"\x89PNG\r\n\x1a\n"


def test_countermeasure_ratios_plot(tmp_path: Path) -> None:
    ratios = {
        "umed:balanced": {"none": 0.99, "median": 1.0, "jpeg2000": 0.98},
        "umed:robust": {"none": 0.5, "median": 0.7},  # no jpeg2000 run: a gap, not a crash
    }
    path = countermeasure_ratios(ratios, tmp_path / "cm.png", target=0.3)
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it


def test_metric_vs_psnr_plot(tmp_path: Path) -> None:
    points = [("clean", 0.0, 0.92), ("umed:balanced", 50.8, 0.91), ("random:balanced", 53.2, 0.9)]
    path = metric_vs_psnr(points, tmp_path / "p.png")
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000
