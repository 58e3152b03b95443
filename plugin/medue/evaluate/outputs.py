"""What ``medue evaluate`` leaves in its output folder: ``results.json`` (everything),
``results.md`` (the table) and ``learning_curves.png``; ``runs.json`` is the resumable store."""

from __future__ import annotations

import json
from pathlib import Path

from medue import __version__
from medue.evaluate.plots import learning_curves
from medue.evaluate.tables import markdown, mean_curves, summarise
from medue.io.atomic import atomic_path


def write_outputs(out: Path, context: dict, records: list[dict]) -> dict:
    """Write the three files; ``context`` holds settings, split and imperceptibility."""
    rows = summarise(records)
    results = {
        "medue_version": __version__,
        **context,
        "rows": [row.as_dict() for row in rows],
        "runs": records,
    }
    write_text(out / "results.json", json.dumps(results, indent=1))
    write_text(out / "results.md", _markdown_page(context, markdown(rows)))
    learning_curves(mean_curves(records), out / "learning_curves.png")
    return results


def _markdown_page(context: dict, table: str) -> str:
    imp = context["imperceptibility"]
    split = context["split"]
    return "\n".join(
        [
            "# medue evaluate",
            "",
            f"- clean: `{context['clean']}`; protected: `{context['protected']}`",
            f"- train cases: {len(split['train'])}; clean test cases: {len(split['test'])}"
            f" ({', '.join(split['test'][:8])}{' ...' if len(split['test']) > 8 else ''})",
            f"- protected training files vs clean: PSNR mean {imp['psnr_db_mean']:.1f} dB,"
            f" min {imp['psnr_db_min']:.1f} dB; SSIM mean {imp['ssim_mean']:.4f};"
            f" max change {imp['max_abs_change']:g} (native units)",
            "- victim DSC on clean test cases, mean ± sd over seeds, for two attackers: the one"
            " with only the release holds out a fifth of its images as validation and keeps the"
            " model that scores best there; the one who early-stops on clean data keeps the"
            " epoch that scores best on the clean test cases; last model = the final epoch",
            "",
            table,
            "",
        ]
    )


def write_text(path: Path, text: str) -> None:
    """Atomically: a reader never sees half a results file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
