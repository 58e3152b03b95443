"""Cross-check MedUE's JND measure (medue.perception) against ColorVideoVDP, by rank.

ColorVideoVDP (Mantiuk et al., ACM TOG 43(4), 2024; ``pip install cvvdp``, PyTorch) is an
independent, calibrated visible-difference metric: it answers in JOD (just-objectionable
differences; 10 = no visible difference). Both metrics are given the same display: the image
windowed, rounded to 8-bit levels and mapped to absolute luminance by the DICOM GSDF
(``Display``), passed to ColorVideoVDP as linear luminance (``EOTF='linear'``, 350 cd/m² peak,
700:1) at the same pixels per degree (zoom = fewer pixels per degree, pixel replication). For
each case it reports MedUE's worst-patch and pooled JND, ColorVideoVDP's JOD for the still pair,
and for flicker: the original and the protected toggled at 4 Hz for 2 s (ColorVideoVDP's temporal
channel; MedUE has none), then Spearman's rank correlation of JND with 10 - JOD.

Cases: one-voxel checkerboards on a flat field; the sample's lung2 (``sample_data/build``) with
the default pattern (4x4 blocks on the tumour) at +-2/4/10 HU and white noise at 0.2/1/2 sigma,
at W400 and W80; DRIVE image 21 (``--drive``, if given) with +-1..4 checkerboards on the vessels;
each at zoom 1, 2 and 4. Optional (``pip install medue[jnd-check]``); CPU, one thread, ~1 min.

    python benchmarks/jnd_vs_cvvdp.py [--drive /work/shared/data/drive] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pycvvdp
import SimpleITK as sitk
import torch
from PIL import Image
from scipy.stats import spearmanr

from medue.intensity import Window
from medue.perception import Display, grey_levels, jnd_slice

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "build" / "pyradiomics"
ZOOMS = (1, 2, 4)
TOGGLE_HZ = 4
SECONDS = 2
EIGHT_BIT = Window(0.0, 255.0, "8-bit")
W400 = Window.from_level_width(40.0, 400.0, "W400 L40")
W80 = Window.from_level_width(40.0, 80.0, "W80 L40")


def checkerboard(shape: tuple[int, ...], block: int = 1) -> np.ndarray:
    yy, xx = np.indices(shape[-2:])
    return np.where((yy // block + xx // block) % 2 == 0, 1.0, -1.0)


def cases(drive: Path | None) -> Iterator[tuple[str, np.ndarray, np.ndarray, Window]]:
    """(name, original, protected, window): 2D slices in native units."""
    flat = np.full((256, 256), 128.0)
    for amplitude in (1, 2):
        yield (
            f"flat +-{amplitude} checker",
            flat,
            flat + amplitude * checkerboard(flat.shape),
            (EIGHT_BIT),
        )
    if (SAMPLE / "lung2.nii.gz").is_file():
        image = sitk.GetArrayFromImage(sitk.ReadImage(str(SAMPLE / "lung2.nii.gz")))[23]
        label = sitk.GetArrayFromImage(
            sitk.ReadImage(str(SAMPLE / "labels" / "final" / "lung2.nii.gz"))
        )[23]
        image = image.astype(np.float64)
        noise = np.random.default_rng(0).normal(size=image.shape)
        for window in (W400, W80):
            for hu in (2, 4, 10):
                blocks = hu * checkerboard(image.shape, 4) * (label > 0)
                yield f"lung2 blocks +-{hu} HU", image, image + blocks, window
            for share in (0.2, 1.0, 2.0):  # of the soft-tissue noise SD, 6.8 HU
                yield (
                    f"lung2 noise {share} sigma",
                    image,
                    image + np.rint(6.8 * share * noise),
                    (window),
                )
    else:
        print(f"{SAMPLE}: no sample data (python sample_data/build.py); lung2 left out")
    if drive is not None:
        folder = drive / "training"
        image = np.asarray(Image.open(folder / "images/21_training.tif").convert("RGB"))[..., 1]
        vessels = np.asarray(Image.open(folder / "1st_manual/21_manual1.gif").convert("L")) > 127
        image = image.astype(np.float64)
        for amplitude in (1, 2, 3, 4):
            protected = np.clip(image + amplitude * checkerboard(image.shape) * vessels, 0, 255)
            yield f"DRIVE 21 +-{amplitude} checker", image, protected, EIGHT_BIT


def cvvdp_jod(reference: np.ndarray, test: np.ndarray, display: Display, zoom: float) -> tuple:
    """ColorVideoVDP's JOD for the still pair and for the pair toggled at ``TOGGLE_HZ``."""
    photometry = pycvvdp.vvdp_display_photo_eotf(
        Y_peak=display.luminance_max,
        contrast=display.luminance_max / display.luminance_min,
        source_colorspace="sRGB",
        EOTF="linear",
    )
    geometry = pycvvdp.vvdp_display_geometry(
        (reference.shape[1], reference.shape[0]), ppd=1.0 / display.pixel_degrees(zoom)
    )
    metric = pycvvdp.cvvdp(
        display_photometry=photometry,
        display_geometry=geometry,
        quiet=True,
        device=torch.device("cpu"),
    )
    ref = torch.tensor(reference, dtype=torch.float32)
    tst = torch.tensor(test, dtype=torch.float32)
    still, _ = metric.predict(tst, ref, dim_order="HW")
    frames = TOGGLE_HZ * SECONDS
    toggled = torch.stack([ref if k % 2 == 0 else tst for k in range(frames)])
    flicker, _ = metric.predict(
        toggled, torch.stack([ref] * frames), dim_order="FHW", frames_per_second=TOGGLE_HZ
    )
    return float(still), float(flicker)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive", type=Path, help="DRIVE folder (training/ inside)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    if args.drive is not None and not (args.drive / "training" / "images").is_dir():
        print(f"{args.drive}: not a DRIVE folder (training/images missing)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    display = Display()
    table = display.level_luminance_table()
    rows = []
    print(f"{'case':28s} {'window':9s} zoom  JND worst  pooled   JOD still  flicker")
    for name, original, protected, window in cases(args.drive):
        reference = table[grey_levels(original, window)]
        test = table[grey_levels(protected, window)]
        for zoom in ZOOMS:
            ours = jnd_slice(original, protected, window, display, zoom)
            still, flicker = cvvdp_jod(reference, test, display, zoom)
            rows.append(
                {
                    "case": name,
                    "window": window.name,
                    "zoom": zoom,
                    "jnd_worst": ours.worst,
                    "jnd_pooled": ours.pooled,
                    "jod_still": still,
                    "jod_flicker": flicker,
                }
            )
            print(
                f"{name:28s} {window.name:9s} {zoom:>3}x {ours.worst:9.2f} {ours.pooled:7.2f}"
                f" {still:10.3f} {flicker:8.3f}"
            )
    summary = {}
    for ours in ("jnd_worst", "jnd_pooled"):
        for theirs in ("jod_still", "jod_flicker"):
            rho = spearmanr([r[ours] for r in rows], [10.0 - r[theirs] for r in rows])[0]
            summary[f"{ours} vs 10-{theirs}"] = float(rho)
            print(f"Spearman {ours} vs 10 - {theirs}: {rho:.3f} ({len(rows)} cases)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "spearman": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
