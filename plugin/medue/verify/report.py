"""The proof-of-use report: the decision, the p-value, how the test works, and what it saw.

``verify.json`` holds the numbers (``VerifyResult.as_dict`` plus the suspect and the key's
commitment); ``verify.html`` states the decision at alpha = 0.01 in plain words beside the probe
images (clean probe | with the key's mark | the mark, at the probe's own window) and the
suspect's responses to the key against the decoys. Both files are written atomically into the
owner's private folder (``PRIVATE/verify/<name>``): they name the key's test, not the key.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from medue.figures import case_figure  # noqa: E402
from medue.intensity import percentile_window  # noqa: E402
from medue.io.atomic import atomic_path  # noqa: E402
from medue.job.private import restrict  # noqa: E402
from medue.verify.probes import ProbeSet  # noqa: E402
from medue.verify.record import SegmentationRecord, VerifyRecord  # noqa: E402
from medue.verify.segmentation import SegmentationProbes  # noqa: E402
from medue.verify.test import VerifyResult  # noqa: E402

HOW = (
    "The release was marked with a pattern that only its secret key determines. The test adds "
    "that pattern to clean images the suspect model never saw and measures how far it moves the "
    "model's answer towards the marked class; then it does the same with {decoys} decoy keys, "
    "derived from the key so that nobody could choose them. A model that was not trained on the "
    "release has no reason to prefer the real key: its answer to the key is then as likely to "
    "rank first as any decoy's, so p (the share of keys, the real one included, answering at "
    "least as strongly) is below 0.01 in at most 1 % of such models, whatever the model. A "
    "model trained on the release answers to its key more than to the decoys."
)
HOW_REFERENCES = (
    "The release was marked with a pattern on the labelled structures. The test pastes the "
    "change the release wrote onto the background of clean images the suspect never saw, and "
    "measures how much of the pasted region the suspect then calls the structure, against the "
    "same images without it. The owner measured the same for {references} reference models "
    "trained on the clean originals, which never saw the pattern. If the suspect was not "
    "trained on a release with this pattern and was trained like those models, its answer is as "
    "likely to rank first as any of theirs, so p (the share of models, the suspect included, "
    "answering at least as strongly) is below 0.01 in at most 1 % of such suspects. The pattern "
    "is the method's, not the key's: a model trained on another release made with the same "
    "method answers too, and a suspect of a very different kind from the references is compared "
    "with models it does not resemble."
)


def write_report(
    result: VerifyResult,
    record: VerifyRecord | SegmentationRecord,
    probes: ProbeSet | SegmentationProbes,
    suspect: str,
    folder: Path,
    suspect_sha256: str | None = None,
) -> tuple[Path, Path]:
    """Write ``verify.json`` and ``verify.html`` (two PNGs per marked class) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    method = record.method if isinstance(record, SegmentationRecord) else record.perturber.method
    data = {
        **result.as_dict(),
        "suspect": suspect,
        "suspect_sha256": suspect_sha256,
        "release_method": method,
        "key_commitment": record.commitment,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    json_path = folder / "verify.json"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))
    if isinstance(probes, SegmentationProbes):
        sections = [_segmentation_section(result, probes, folder)]
    else:
        sections = [_class_section(name, result, record, probes, folder) for name in result.tests]
    html_path = folder / "verify.html"
    with atomic_path(html_path) as tmp:
        tmp.write_text(_page(result, suspect, sections))
    restrict(record.private)  # the report is part of the owner-only private record
    return json_path, html_path


def decision_line(result: VerifyResult) -> str:
    """One sentence for a person: the decision at alpha and the p-value it rests on."""
    p, alpha = f"{result.p_value:.3g}", result.alpha
    if result.null == "references":
        n = next(iter(result.tests.values())).decoys
        if result.p_value <= alpha and result.below_floor:
            share = 100 * next(iter(result.tests.values())).key_response
            return (f"not detected: the suspect outranks the {n} clean reference models (p = {p}) "
                    f"but calls only {share:.2f} % of the pasted pattern foreground, under the "
                    f"{100 * result.floor:.0f} % a model that learned it shows")  # fmt: skip
        if result.detected:
            return (f"detected: the suspect answers to this release's pattern more than the {n} "
                    f"clean reference models (p = {p} <= {alpha})")  # fmt: skip
        return (f"not detected (p = {p} > {alpha}): the suspect does not answer to this release's "
                f"pattern more than the {n} clean reference models do; that does not prove it "
                "never saw the release")  # fmt: skip
    if result.detected:
        return (f"detected: the suspect answers to this release's key (p = {p} <= {alpha}); "
                f"a model not trained on the release does so with probability <= {p}")  # fmt: skip
    return (f"not detected (p = {p} > {alpha}): the suspect does not answer to this key more "
            "than to the decoys; that does not prove it never saw the release")  # fmt: skip


def _class_section(
    name: str, result: VerifyResult, record: VerifyRecord, probes: ProbeSet, folder: Path
) -> str:
    test, rows = result.tests[name], result.responses[name]
    shape = probes.images.shape[1:]
    marked = probes.with_mark(record.mark(name, shape), record.amplitude)
    window = percentile_window(probes.images[0])
    probe_png = case_figure(probes.images[0], marked[0], window, max(record.amplitude, 1e-9),
                            folder / f"probe_{_safe(name)}.png")  # fmt: skip
    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.hist(rows[1:].mean(axis=1), bins=30, color="#999", label=f"{len(rows) - 1} decoy keys")
    axis.axvline(rows[0].mean(), color="#c00", linewidth=2, label="the release's key")
    axis.set_xlabel(f"mean change of the {name!r} score margin on the probes")
    axis.set_ylabel("keys")
    axis.legend(fontsize=8)
    figure.tight_layout()
    plot_png = folder / f"responses_{_safe(name)}.png"
    with atomic_path(plot_png) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return (
        f"<h2>Class {html.escape(name)}</h2>"
        f"<p>p = {test.p_value:.3g} with {test.decoys} decoys; the key's response "
        f"{test.key_response:+.3g} against the decoys' {test.decoy_mean:+.3g} &plusmn; "
        f"{test.decoy_sd:.3g} (effect {test.effect:+.1f} decoy SDs); on "
        f"{100 * test.images_above:.0f} % of the probe images the key moved the answer more than "
        f"the decoys did on average (per-image SD {test.key_image_sd:.3g}).</p>"
        f"<p><img src='{plot_png.name}' alt='responses'></p>"
        f"<p>A probe (clean | with the key's mark at the release's strength, "
        f"{record.amplitude:g} native units | the mark):<br>"
        f"<img src='{probe_png.name}' alt='probe'></p>"
    )


def _segmentation_section(result: VerifyResult, probes: SegmentationProbes, folder: Path) -> str:
    test, rows = result.tests["foreground"], result.responses["foreground"]
    window = percentile_window(probes.clean[0])
    change = float(np.max(np.abs(probes.marked[0] - probes.clean[0]))) or 1.0
    probe_png = case_figure(probes.clean[0], probes.marked[0], window, change,
                            folder / "probe_segmentation.png")  # fmt: skip
    figure, axes = plt.subplots(1, 2 if result.maps else 1, figsize=(9 if result.maps else 6, 3.2))
    axis = axes[0] if result.maps else axes
    axis.hist(rows[1:].mean(axis=1), bins=30, color="#999", label=f"{len(rows) - 1} references")
    axis.axvline(rows[0].mean(), color="#c00", linewidth=2, label="the suspect")
    axis.set_xlabel("share of the pasted pattern called foreground (minus without it)")
    axis.set_ylabel("models")
    axis.legend(fontsize=8)
    if result.maps:
        shown = result.maps["marked"].astype(int) - result.maps["clean"].astype(int)
        axes[1].imshow(np.where(probes.regions[0], 0.3, 0.0) + 0.7 * (shown > 0), cmap="magma")
        axes[1].set_title(
            "suspect: foreground gained (bright) in the pasted region (dim)", fontsize=8
        )
        axes[1].axis("off")
    figure.tight_layout()
    plot_png = folder / "responses_segmentation.png"
    with atomic_path(plot_png) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return (
        "<h2>The suspect against the reference models</h2>"
        f"<p>p = {test.p_value:.3g} against {test.decoys} clean reference models; the suspect "
        f"called {100 * test.key_response:+.1f} % of the pasted pattern foreground, the "
        f"references {100 * test.decoy_mean:+.1f} &plusmn; {100 * test.decoy_sd:.1f} % (effect "
        f"{test.effect:+.1f} reference SDs); on {100 * test.images_above:.0f} % of the probe "
        "images the suspect answered more than the references did on average.</p>"
        f"<p><img src='{plot_png.name}' alt='responses'></p>"
        "<p>A probe (clean | with the release's change pasted off its own structures | the "
        f"change):<br><img src='{probe_png.name}' alt='probe'></p>"
    )


def _page(result: VerifyResult, suspect: str, sections: list[str]) -> str:
    colour = "#c00" if result.detected else "#060"
    decoys = next(iter(result.tests.values())).decoys
    if result.null == "references":
        how = HOW_REFERENCES.format(references=decoys)
        scope = "the suspect is ranked among clean reference models."
    else:
        how = HOW.format(decoys=decoys)
        scope = f"p is Bonferroni-corrected over {len(result.tests)} marked class(es)."
    return (
        "<!doctype html><meta charset='utf-8'><title>MedUE proof of use</title>"
        "<body style='font-family:sans-serif;max-width:60em'>"
        f"<h1>Was {html.escape(suspect)} trained on this release?</h1>"
        f"<p style='font-size:1.3em;color:{colour}'><b>{html.escape(decision_line(result))}</b></p>"
        f"<p>{result.probes} probe images; alpha = {result.alpha}; {scope}</p>"
        f"<h2>How the test works</h2><p>{how}</p>" + "".join(sections) + "</body>"
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
