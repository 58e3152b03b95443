"""Reports people look at: one HTML page, a row per case with its figures (``medue.figures``)
beside its numbers: JND at each reading window and zoom, PSNR/SSIM, the change against the
image's noise, and what the release was checked against.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from medue.figures import zoom_figure_name
from medue.io.atomic import atomic_path

STYLE = (
    "body{font-family:sans-serif;margin:2em}"
    "td,th{padding:4px 10px;text-align:left;vertical-align:top}"
    "img{image-rendering:pixelated}"
)
BELOW_NOISE = "smaller than the noise a reader sees there"
AT_NOISE = "as large as that noise or larger, so look at the figures at the clinical window first"


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
most changed voxels, at the case's intensity window. Below it, where the JND model finds the change
easiest to see: original | protected at 1x (one image pixel per screen pixel), then original |
protected at 4x zoom. JND: just-noticeable differences in the worst patch on a calibrated (DICOM
GSDF) display, at each clinical window a reader may use; under 1 is not seen. Numbers are
measured on the written files after reloading; PSNR and SSIM use the image's own dynamic
range.</p>
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
        f"{name}: {_both_attackers(row)}"
        for name, result in reference["datasets"].items()
        for row in result["rows"]
        if row["countermeasure"] == "none"
    ]
    return (
        "Not checked on this data (medue protect --check). On MedUE's benchmarks, a victim "
        f"trained on releases like this one kept {'; '.join(scores) or 'no recorded score'}."
    )


def _both_attackers(row: dict) -> str:
    """E.g. "45% of the clean victim's DSC for the attacker with only the release, 88% for the
    attacker who early-stops on clean data" (references that predate the first give only the
    second)."""
    clean_stop = f"{row['ratio']:.0%} for the attacker who early-stops on clean data"
    if "release_only_ratio" not in row:
        return f"{clean_stop} of the clean victim's DSC"
    return (
        f"{row['release_only_ratio']:.0%} of the clean victim's DSC for the attacker with only "
        f"the release, {clean_stop}"
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
    if figure and "worst_patch" in m.get("jnd", {}):
        zoomed = html.escape(zoom_figure_name(figure))
        image += f'<br><img src="{zoomed}" alt="the most visible patch at 1x and 4x">'
    return f"<tr><td>{html.escape(case['image_id'])}</td><td>{image}</td><td>{numbers}</td></tr>"


def _jnd_line(m: dict) -> str:
    """What a reader sees, in just-noticeable differences (worst patch), at 1x / 2x / 4x zoom:
    at the reading window in bold, then at every other clinical window measured."""
    if "jnd" not in m:
        return ""
    j = m["jnd"]
    lines = [
        f"<b>JND {j['1x']:.2f} / {j['2x']:.2f} / {j['4x']:.2f}</b> at 1x / 2x / 4x zoom "
        f"(window {html.escape(j['window'])}; {html.escape(j['display'])}; under 1 is not "
        "seen)<br>"
    ]
    for name, seen in j.get("windows", {}).items():
        if name != j["window"]:
            lines.append(
                f"at {html.escape(name)}: {seen['1x']:.2f} / {seen['2x']:.2f} / "
                f"{seen['4x']:.2f}<br>"
            )
    return "".join(lines)


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
