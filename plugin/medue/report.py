"""Reports people look at: per-case PNGs (original | protected | amplified difference) and HTML.

Images are shown at the case's intensity window (a clinical window for CT) and cropped around the
ROI on the axial slice where the perturbation covers most voxels. The difference panel maps
-eps..+eps to black..white (mid-grey = unchanged), so its amplification is stated in the caption.
PNGs are written with SimpleITK: no plotting library needed.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medue.intensity import Window
from medue.io.atomic import atomic_path

STYLE = (
    "body{font-family:sans-serif;margin:2em}"
    "td,th{padding:4px 10px;text-align:left;vertical-align:top}"
    "img{image-rendering:pixelated}"
)
BELOW_NOISE = "smaller than the noise a reader sees there"
AT_NOISE = "as large as that noise or larger, so look at the figures at the clinical window first"
MIN_CROP = 96
PANEL_SIZE = 256


def case_figure(
    original: np.ndarray,
    protected: np.ndarray,
    window: Window,
    epsilon: float,
    path: Path,
    inverted: bool = False,
    show_mask: bool = False,
) -> Path:
    """Write the three-panel PNG for one case (arrays in native units, 2D or (z, y, x)); with
    ``show_mask`` a fourth panel shows where the change is (white = changed voxel), for methods
    that choose their voxels (SALM's top K).

    ``inverted`` shows high values dark, as a viewer shows a DICOM MONOCHROME1 image (PS3.3
    C.7.6.3.1.2); the stored values are never inverted, only the picture.
    """
    original = np.asarray(original, dtype=np.float64)
    protected = np.asarray(protected, dtype=np.float64)
    if original.ndim == 2:
        original, protected = original[np.newaxis], protected[np.newaxis]
    change = protected - original
    z = int(np.argmax(np.count_nonzero(change, axis=(1, 2))))
    crop = _crop_box(change[z] != 0)
    shown = (lambda grey: 1.0 - grey) if inverted else (lambda grey: grey)
    panels = [
        _to_grey(shown(window.normalise(original[z][crop]))),
        _to_grey(shown(window.normalise(protected[z][crop]))),
        _to_grey(np.clip(0.5 + change[z][crop] / (2.0 * max(epsilon, 1e-12)), 0.0, 1.0)),
    ]
    if show_mask:
        panels.append(_to_grey((change[z][crop] != 0).astype(np.float64)))
    montage = np.concatenate([_enlarge(p) for p in panels], axis=1)
    with atomic_path(path) as tmp:
        sitk.WriteImage(sitk.GetImageFromArray(montage), str(tmp))
    return path


def _crop_box(changed: np.ndarray) -> tuple[slice, slice]:
    if not changed.any():
        return (slice(None), slice(None))
    coords = np.argwhere(changed)
    centre = (coords.min(axis=0) + coords.max(axis=0)) // 2
    extent = max(MIN_CROP, int((coords.max(axis=0) - coords.min(axis=0)).max()) + 32)
    slices = []
    for c, n in zip(centre, changed.shape, strict=True):
        lo = int(np.clip(c - extent // 2, 0, max(n - extent, 0)))
        slices.append(slice(lo, min(n, lo + extent)))
    return tuple(slices)


def _to_grey(unit: np.ndarray) -> np.ndarray:
    return np.round(np.clip(unit, 0.0, 1.0) * 255).astype(np.uint8)


def _enlarge(panel: np.ndarray) -> np.ndarray:
    factor = max(1, PANEL_SIZE // max(panel.shape))
    return np.kron(panel, np.ones((factor, factor), dtype=np.uint8))


def write_html(
    path: Path,
    title: str,
    settings: dict,
    cases: Sequence[dict],
    failed: Sequence[dict],
    checked: dict | None = None,
    reference: dict | None = None,
    left_out: Sequence[dict] = (),
):
    """One self-contained page: settings, a row per case (figure beside its numbers), failures,
    inputs left out (nothing to protect in them), and what the release was checked against
    (``medue.job.check``; "not checked" without it)."""
    rows = "\n".join(_case_row(case) for case in cases)
    failures = "".join(
        f"<li>{html.escape(f['source'])}: {html.escape(f['problem'])}</li>" for f in failed
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
{summary_section(cases, failed, left_out, checked, reference)}
<h2>Settings</h2>
{_settings_table(settings)}
<h2>Cases</h2>
<p>Each figure: original | protected | difference (black = -eps, white = +eps, grey = unchanged)
| for methods that pick their voxels, the mask (white = changed), on the axial slice with the
most changed voxels, at the case's intensity window. Numbers are measured on the written files after
reloading; PSNR and SSIM use the image's own dynamic range.</p>
<table><tr><th>case</th><th>figure</th><th>numbers</th></tr>
{rows}
</table>
<h2>Failed inputs</h2><ul>{failures or "<li>none</li>"}</ul>
{_left_out_section(left_out)}
{check_section(checked, reference)}
</body></html>"""
    with atomic_path(path) as tmp:
        tmp.write_text(page)
    return path


def summary_section(
    cases: Sequence[dict],
    failed: Sequence[dict],
    left_out: Sequence[dict],
    checked: dict | None,
    reference: dict | None,
) -> str:
    """The report's opening lines, for a clinician: what was released, how visible, how
    protective (checked here, or what the benchmark says), in plain words."""
    counts = f"{len(cases)} images protected, {len(failed)} failed"
    counts += f", {len(left_out)} left out (nothing to protect)." if left_out else "."
    return (
        "<h2>Summary</h2><ul>"
        + "".join(
            f"<li>{html.escape(line)}</li>"
            for line in (
                counts,
                _visibility_summary(cases),
                _protection_summary(checked, reference),
            )
        )
        + "</ul>"
    )


def _visibility_summary(cases: Sequence[dict]) -> str:
    if not cases:
        return "Nothing was written."
    metrics = [c["metrics"] for c in cases]
    psnr = [m["psnr_db"] for m in metrics]
    text = f"Whole-image PSNR {min(psnr):.1f}-{max(psnr):.1f} dB"
    if all("epsilon_over_sigma" in m for m in metrics):
        ratio = max(m["epsilon_over_sigma"] for m in metrics)
        roi = min(m["psnr_roi_db"] for m in metrics)
        verdict = BELOW_NOISE if ratio < 1 else AT_NOISE
        text += (
            f", {roi:.1f} dB at the lowest over the box of the region it may change. The largest "
            f"change is {ratio:.2f} "
            f"times the noise sigma of its own image: {verdict}"
        )
    return text + "."


def _protection_summary(checked: dict | None, reference: dict | None) -> str:
    if checked is not None and checked.get("status") == "checked":
        return f"Checked on this data: {checked['verdict']}."
    if not reference:
        return "Not checked on this data, and not measured on MedUE's benchmarks: unknown."
    if "note" in reference:
        return f"Not checked on this data. {reference['note']}"
    scores = [
        f"{name}: {row['ratio']:.0%} of the clean victim's DSC"
        for name, result in reference["datasets"].items()
        for row in result["rows"]
        if row["countermeasure"] == "none"
    ]
    return (
        "Not checked on this data (medue protect --check). On MedUE's benchmarks, a victim "
        f"trained on releases like this one kept {'; '.join(scores) or 'no recorded score'}."
    )


def _settings_table(settings: dict) -> str:
    """Settings as a two-column table (nested entries as dotted names), not a JSON dump."""
    rows = []
    for key, value in _flatten(settings):
        shown = "default" if value is None else value
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(str(shown))}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    items = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            items += _flatten(value, f"{name}.")
        else:
            items.append((name, value))
    return items


def _left_out_section(left_out: Sequence[dict]) -> str:
    if not left_out:
        return ""
    items = "".join(
        f"<li>{html.escape(item['source'])}: {html.escape(item['why'])}</li>" for item in left_out
    )
    return f"<h2>Left out of the release (nothing to protect)</h2><ul>{items}</ul>"


def _case_row(case: dict) -> str:
    m = case["metrics"]
    window = case["window"]
    numbers = (
        _jnd_line(m) + _visibility_lines(m) + _psnr_text(m) + f"<br>SSIM {m['ssim']:.4f}<br>"
        f"max change {m['max_abs_change']:g} (eps {case['epsilon_native']:g}"
        f"{': ' + html.escape(case['budget_rule']) if case.get('budget_rule') else ''})<br>"
        f"RMS change {m['rms_change']:.3f}<br>changed voxels {100 * m['changed_fraction']:.2f}%<br>"
        f"window {window['name']} [{window['low']:g}, {window['high']:g}]"
    )
    figure = case.get("figure")
    image = (
        f'<img src="{html.escape(figure)}" alt="{html.escape(case["image_id"])}">' if figure else ""
    )
    return f"<tr><td>{html.escape(case['image_id'])}</td><td>{image}</td><td>{numbers}</td></tr>"


def _jnd_line(m: dict) -> str:
    """What a reader sees, in just-noticeable differences (worst patch), at 1x / 2x / 4x zoom."""
    if "jnd" not in m:
        return ""
    j = m["jnd"]
    return (
        f"<b>JND {j['1x']:.2f} / {j['2x']:.2f} / {j['4x']:.2f}</b> at 1x / 2x / 4x zoom "
        f"(window {html.escape(j['window'])}; {html.escape(j['display'])}; under 1 is not "
        "seen)<br>"
    )


def _visibility_lines(m: dict) -> str:
    """Change against the image's own noise, and PSNR over the changed region (when measured)."""
    if "noise_sigma" not in m:
        return ""
    return (
        f"noise sigma {m['noise_sigma']:.3g}: max change {m['epsilon_over_sigma']:.2f} sigma, "
        f"RMS {m['rms_over_sigma']:.2f} sigma<br>PSNR over the changeable region's box "
        f"{m['psnr_roi_db']:.1f} dB"
        f"<br>whole-image "
    )


def check_section(checked: dict | None, reference: dict | None = None) -> str:
    """HTML: the countermeasures the release was checked against and what the victim scored —
    on this data (``medue.job.check``) or, unchecked, on MedUE's benchmarks (``reference``)."""
    title = "<h2>Checked against the attacker's countermeasures</h2>"
    if checked is not None and checked["status"] == "checked":
        return title + _checked_here(checked)
    if checked is None:
        why = (
            "Not checked on this data. Run <code>medue protect ... --check</code>, or "
            "<code>medue evaluate ORIGINAL PROTECTED OUT --countermeasures all</code>, to train "
            "a victim on this release and score it on clean held-out cases."
        )
    else:
        why = f"Not checked: {html.escape(checked['reason'])}."
    return f"{title}<p>{why}</p>{_benchmark_reference(reference)}"


def _checked_here(checked: dict) -> str:
    setup = checked["settings"]
    return f"""
<p><b>{html.escape(checked["verdict"])}</b></p>
<p>Victim: {html.escape(checked["victim"])}, seed {setup["seed"]}, {setup["epochs"]} epochs, trained
on the protected files and, for reference, on the originals; DSC on the clean held-out cases
{html.escape(", ".join(checked["test_cases"]))} of the model each attacker keeps: the one with
only the release picks it on a fifth of the release held out as validation, the one who
early-stops on clean data picks its best epoch on those clean cases. One seed varies by
0.05-0.15 DSC: use <code>medue evaluate</code> with several seeds before relying on a number.
Details: <code>{html.escape(checked["details"])}</code>.</p>
{_score_table(checked["rows"])}"""


def _benchmark_reference(reference: dict | None) -> str:
    if not reference:
        return (
            "<p>MedUE's own benchmarks have no countermeasure runs for this method and preset.</p>"
        )
    if "note" in reference:
        return f"<p>{html.escape(reference['note'])}</p>"
    parts = [
        f"<p>What this method and preset scored on MedUE's own benchmarks "
        f"({html.escape(reference['source'])}; not this data):</p>"
    ]
    for dataset, result in reference["datasets"].items():
        parts.append(
            f"<p>{html.escape(dataset)}: victim {html.escape(result['victim'])}, mean of "
            f"{result['seeds']} seeds, release PSNR {result['psnr_db_mean']:.1f} dB</p>"
            + _score_table(result["rows"])
        )
    return "\n".join(parts)


def _score_table(rows: Sequence[dict]) -> str:
    """Both attackers: the one with only the release (its model picked on a validation part of
    the release) and the one who early-stops on clean data; "not measured" where a stored
    reference predates the first."""

    def cells(r: dict, prefix: str) -> str:
        if f"{prefix}ratio" not in r:
            return '<td colspan="3">not measured</td>'
        return (
            f"<td>{r[prefix + 'clean_dsc']:.3f}</td><td>{r[prefix + 'protected_dsc']:.3f}</td>"
            f"<td>{r[prefix + 'ratio']:.0%}</td>"
        )

    def name(r: dict) -> str:  # a row measured on fewer seeds than the table says so
        seeds = r.get("seeds")
        return r["countermeasure"] + (f" ({seeds} seed{'s' * (seeds != 1)})" if seeds else "")

    body = "".join(
        f"<tr><td>{html.escape(name(r))}</td>{cells(r, 'release_only_')}{cells(r, '')}</tr>"
        for r in rows
    )
    head = "<th>clean victim DSC</th><th>protected victim DSC</th><th>protected / clean</th>"
    return (
        '<table><tr><th rowspan="2">countermeasure</th>'
        '<th colspan="3">attacker with only the release</th>'
        '<th colspan="3">attacker who early-stops on clean data</th></tr>'
        f"<tr>{head}{head}</tr>{body}</table>"
    )


def _psnr_text(m: dict) -> str:
    """The case's PSNR in words: own range, and an 8-bit file's peak-255 figure beside it."""
    own = f"PSNR {m['psnr_db']:.1f} dB (range {m['data_range']:g})"
    if "psnr_peak_db" not in m:
        return own
    return f"PSNR {m['psnr_peak_db']:.1f} dB (peak 255); {own}"
