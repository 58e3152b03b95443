"""Draw the MedUE Protect panel and what it shows, for docs/SLICER.md (and the module's icon).

The panel is the module's real ``.ui`` built in PySide6 with plain-Qt stand-ins for Slicer's
widgets (``qt_standins.py``), filled with what MedUEProtectLib gets from a running MedUE server:
its dataset, a preview's read-out, a job's progress. The views picture is a slice of that
preview: original and protected at the one window, and the change as the panel's overlay.

    medue serve --studies sample_data/build/pyradiomics --export /tmp/medue-export --port 8000
    QT_QPA_PLATFORM=offscreen python slicer_extension/tools/render_panel.py \\
        --server http://127.0.0.1:8000 --image brain2 --out docs/figures

``--icon PATH`` only draws the 128 x 128 module icon.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
MODULE = HERE.parent / "MedUEProtect"
sys.path[:0] = [str(HERE), str(MODULE)]

from MedUEProtectLib import (  # noqa: E402 - importable once the module folder is on the path
    JobMonitor,
    JobRequest,
    MedUEClient,
    PreviewSettings,
    display,
    panel,
)
from MedUEProtectLib.nifti import read_nifti  # noqa: E402
from MedUEProtectLib.preview import describe, unit_name  # noqa: E402

WIDTH = 430  # about Slicer's module panel at its default size
SECTIONS = tuple(f"{name}CollapsibleButton" for name in
                 ("server", "dataset", "settings", "preview", "protect", "export"))  # fmt: skip


def draw_icon(path: Path) -> None:
    """A shield (protection) over a 4 x 4 checker of faint squares (the perturbation)."""
    size = 128
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    shield = [(64, 8), (114, 26), (110, 74), (64, 120), (18, 74), (14, 26)]
    pen.polygon(shield, fill=(38, 84, 140, 255))
    for row in range(4):
        for column in range(4):
            x, y = 34 + 15 * column, 34 + 15 * row
            shade = (96, 150, 214, 255) if (row + column) % 2 else (60, 110, 170, 255)
            pen.rectangle([x, y, x + 14, y + 14], fill=shade)
    pen.line(shield + [shield[0]], fill=(230, 236, 244, 255), width=5)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def build_panel():
    from qt_standins import application, load_ui, named_widgets  # noqa: PLC0415 - needs PySide6

    application()
    root = load_ui(MODULE / "Resources" / "UI" / "MedUEProtect.ui")
    return root, named_widgets(root)


def shoot(root, widgets: dict, show: list[str], path: Path) -> None:
    """Picture of the panel with only the sections in ``show`` unfolded."""
    from PySide6 import QtWidgets  # noqa: PLC0415

    for name in SECTIONS:
        widgets[name].setVisible(name in show)
    root.setFixedWidth(WIDTH)
    root.adjustSize()
    root.resize(WIDTH, root.sizeHint().height())
    root.show()
    QtWidgets.QApplication.processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    root.grab().save(str(path))


def fill(widgets: dict, client: MedUEClient, image_id: str, out: Path) -> tuple:
    """Fill the panel as the module would after connect, preview and a finished job."""
    info = client.connect()
    images = client.images()
    w = widgets
    w["serverUrlEdit"].setText(client.url)
    w["serverStatusLabel"].setText(info.summary())
    w["loginWidget"].setVisible(False)
    w["datasetLabel"].setText(panel.dataset_line(info.dataset, images))
    w["imageList"].addItems(panel.image_rows(images))
    w["imageList"].setCurrentRow([i.id for i in images].index(image_id))
    w["inputVolumeSelector"].addItem(image_id)
    w["roiSourceCombo"].addItems(list(panel.ROI_SOURCES))
    for name, visible in panel.roi_rows(panel.LABELS).items():
        w[name].setVisible(visible)
    w["methodCombo"].addItems(info.methods)
    w["methodCombo"].setCurrentIndex(info.methods.index(info.default_method))
    choices, default = panel.preset_choices(info.presets)
    w["presetCombo"].addItems(choices)
    w["presetCombo"].setCurrentIndex(default)
    w["presetHelpLabel"].setText(info.presets.get(choices[default], ""))
    result = client.preview(PreviewSettings(info.default_method, image_id=image_id), out)
    unit = unit_name(result.is_ct)
    w["epsilonSlider"].suffix = f" {unit}"
    w["epsilonSlider"].value = float(result.budget["epsilon_native"])
    window = display.clinical_window(server=result.window)
    w["previewReadoutLabel"].setText(describe(result))
    legend = display.overlay_legend(float(result.budget["epsilon_native"]), unit, window)
    w["overlayLegendLabel"].setText(legend)
    w["overlayCheckBox"].setChecked(True)
    state = panel.PanelState(True, True, len(images), 1, previewed=True, job_running=True)
    for name, enabled in state.enabled().items():
        w[name].setEnabled(enabled)
    return info, result


def follow_job(widgets: dict, client: MedUEClient, release: str) -> None:
    """Start a job and take the picture before its last image: progress, phase and ETA."""
    status = client.submit(JobRequest(export=release))
    monitor = JobMonitor(client, status.id)
    progress = monitor.poll()
    while not progress.finished and not _last_image(progress.status):
        time.sleep(0.2)
        progress = monitor.poll()
    widgets["exportNameEdit"].setText(release)
    widgets["jobProgressBar"].setValue(progress.percent)
    widgets["jobStatusLabel"].setText(progress.text)
    while not progress.finished:
        time.sleep(0.5)
        progress = monitor.poll()
    widgets["releaseCombo"].addItem(release)
    widgets["exportFolderEdit"].currentPath = "/data/protected/" + release
    widgets["exportProgressBar"].setValue(100)
    count = len(progress.status.ids("done"))
    widgets["exportStatusLabel"].setText(
        f"exported {count} of {count} to /data/protected/{release}"
    )


def _last_image(status) -> bool:
    return status is not None and status.phase == "apply" and status.done >= status.total - 1


def draw_views(original: np.ndarray, result, path: Path) -> None:
    """Original | protected | change overlay, one axial slice, at the preview's window."""
    protected = read_nifti(result.path).array
    change = display.difference(original, protected)
    index = int(np.argmax(np.count_nonzero(change, axis=(1, 2))))  # the most changed slice
    window = display.clinical_window(server=result.window)
    labels = display.change_labels(change, float(result.budget["epsilon_native"]))
    tiles = [display.grey(original[index], window), display.grey(protected[index], window)]
    panels = [np.repeat(t[..., None], 3, axis=-1) for t in tiles]
    panels.append(display.blend(tiles[0], labels[index]))
    scale = max(1, 256 // max(original.shape[1:]))
    pictures = [Image.fromarray(p[::-1]).resize((p.shape[1] * scale, p.shape[0] * scale),
                                                Image.NEAREST) for p in panels]  # fmt: skip
    titles = ["original", "protected (same window)", "change (colour overlay)"]
    height, width = pictures[0].height, pictures[0].width
    sheet = Image.new("RGB", (3 * width + 40, height + 28), (255, 255, 255))
    pen = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for n, (picture, title) in enumerate(zip(pictures, titles)):
        sheet.paste(picture, (10 + n * (width + 10), 24))
        pen.text((10 + n * (width + 10), 6), title, fill=(0, 0, 0), font=font)
    sheet.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="a running MedUE server's URL")
    parser.add_argument("--image", default="brain2", help="the image to preview")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--release", help="the job's release name (default method-balanced)")
    parser.add_argument("--icon", type=Path, help="only draw the module icon to this path")
    args = parser.parse_args(argv)
    if args.icon:
        draw_icon(args.icon)
        return 0
    if not args.server:
        parser.error("--server is needed to fill the panel")
    root, widgets = build_panel()
    client = MedUEClient(args.server)
    scratch = Path(tempfile.mkdtemp(prefix="medue-render-"))
    info, result = fill(widgets, client, args.image, scratch)
    original = read_nifti(client.download_image(args.image, scratch)).array
    args.out.mkdir(parents=True, exist_ok=True)
    draw_views(original, result, args.out / "slicer_views.png")
    shoot(root, widgets, ["serverCollapsibleButton", "datasetCollapsibleButton"],
          args.out / "slicer_panel_connect.png")  # fmt: skip
    shoot(root, widgets, ["settingsCollapsibleButton", "previewCollapsibleButton"],
          args.out / "slicer_panel_preview.png")  # fmt: skip
    follow_job(widgets, client, args.release or f"{info.default_method}-balanced")
    shoot(root, widgets, ["protectCollapsibleButton", "exportCollapsibleButton"],
          args.out / "slicer_panel_protect.png")  # fmt: skip
    print(f"pictures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
