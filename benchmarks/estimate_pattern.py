"""The attacker who knows the method: estimate the pattern from a published release alone and
subtract it.

Threat model: the method is public (Kerckhoffs), the key is not. From the release's images and
labels only, this attacker fits the pattern the method would add: on each image the high-pass
residual (the image minus its 3x3 box mean) inside the released labels is regressed on the
equally high-passed template of the method (least squares, one amplitude for the whole release):

- ``phase``: the one-voxel checkerboard (``pattern-checker``: two phases, no key space);
- ``blocks``: the keyed checkerboard (``pattern-checker-keyed``) for an attacker who also knows
  its block size: each block's secret sign is estimated first, from the residual pooled over
  every image inside that block (sign of its correlation with the checkerboard), then the
  amplitude.

The estimate is subtracted, rounded and clipped to the stored dtype, and written as a "cleaned"
release (same names and headers, labels copied) that ``real_frontier.py`` victims can train on.
Given the originals (``--original``), it also prints how well the estimate matches the true
perturbation (released - original) inside the labels: correlation, RMS of the true change and
of what is left after cleaning, and PSNR (peak 255) of the release and of the cleaned copy
against the originals.

    python benchmarks/estimate_pattern.py RELEASE CLEANED --model phase --original /tmp/drive/train
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

MODELS = ("phase", "blocks")
BLOCK = 8  # pattern-checker-keyed's secret block size (medue.methods.patterns)


def read(path: Path) -> tuple[sitk.Image, np.ndarray]:
    image = sitk.ReadImage(str(path))
    return image, sitk.GetArrayFromImage(image)


def high_pass(array: np.ndarray) -> np.ndarray:
    """The array minus its 3x3 in-plane box mean (float64)."""
    array = np.asarray(array, np.float64)
    return array - ndimage.uniform_filter(array, size=(1, 3, 3) if array.ndim == 3 else 3)


def checker(shape: tuple[int, ...]) -> np.ndarray:
    """+1 / -1 one-voxel checkerboard over the last two axes (MedUE's phase: +1 at (0, 0))."""
    y, x = np.indices(shape[-2:])
    return np.broadcast_to(np.where((y + x) % 2 == 0, 1.0, -1.0), shape)


def block_signs(cases: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int]) -> np.ndarray:
    """Each ``BLOCK`` x ``BLOCK`` block's sign: of the residual's correlation with the
    checkerboard inside the labels, pooled over every image (a +-1 plane of ``shape``)."""
    score = np.zeros(shape)
    for array, label in cases:
        template = high_pass(checker(array.shape) * label)
        score += (high_pass(array) * template * label).reshape(-1, *shape).sum(axis=0)
    blocks = (-(-shape[0] // BLOCK), -(-shape[1] // BLOCK))
    padded = np.zeros((blocks[0] * BLOCK, blocks[1] * BLOCK))
    padded[: shape[0], : shape[1]] = score
    sums = padded.reshape(blocks[0], BLOCK, blocks[1], BLOCK).sum(axis=(1, 3))
    signs = np.where(sums >= 0, 1.0, -1.0)
    return np.repeat(np.repeat(signs, BLOCK, 0), BLOCK, 1)[: shape[0], : shape[1]]


def estimate(cases: list[tuple[np.ndarray, np.ndarray]], model: str) -> list[np.ndarray]:
    """The estimated perturbation of each image (float64, zero outside its labels)."""
    shape = cases[0][0].shape[-2:]
    signs = block_signs(cases, shape) if model == "blocks" else np.ones(shape)
    templates = [checker(a.shape) * signs * label for a, label in cases]
    numerator = sum(
        float((high_pass(a) * high_pass(t) * label).sum())
        for (a, label), t in zip(cases, templates, strict=True)
    )
    denominator = sum(
        float((high_pass(t) ** 2 * label).sum())
        for (_, label), t in zip(cases, templates, strict=True)
    )
    amplitude = numerator / denominator if denominator else 0.0
    return [amplitude * t for t in templates]


def clean_release(release: Path, cleaned: Path, model: str) -> tuple[list[Path], list[np.ndarray]]:
    """Write the cleaned copy of ``release`` into ``cleaned``; returns the images and their
    estimated perturbations."""
    images = sorted(release.glob("*.nii.gz"))
    cases = []
    for path in images:
        _, array = read(path)
        _, label = read(release / "labels/final" / path.name)
        cases.append((array.astype(np.float64), (label > 0).astype(np.float64)))
    estimates = estimate(cases, model)
    (cleaned / "labels/final").mkdir(parents=True, exist_ok=True)
    for path, (array, _), guess in zip(images, cases, estimates, strict=True):
        source, stored = read(path)
        info = np.iinfo(stored.dtype) if stored.dtype.kind in "iu" else None
        values = np.round(array - guess)
        if info is not None:
            values = np.clip(values, info.min, info.max)
        image = sitk.GetImageFromArray(values.astype(stored.dtype))
        image.CopyInformation(source)
        sitk.WriteImage(image, str(cleaned / path.name), useCompression=True)
        shutil.copyfile(release / "labels/final" / path.name, cleaned / "labels/final" / path.name)
    return images, estimates


def quality(images: list[Path], estimates: list[np.ndarray], original: Path, cleaned: Path,
            release: Path) -> dict:  # fmt: skip
    """How well the estimate matches the true perturbation, over every image."""
    true, guess, left = [], [], []
    psnr_release, psnr_cleaned = [], []
    for path, estimated in zip(images, estimates, strict=True):
        clean = read(original / path.name)[1].astype(np.float64)
        released = read(path)[1].astype(np.float64)
        after = read(cleaned / path.name)[1].astype(np.float64)
        inside = read(release / "labels/final" / path.name)[1] > 0
        delta = released - clean
        true.append(delta[inside])
        guess.append(estimated[inside])
        left.append((after - clean)[inside])
        psnr_release.append(_psnr(clean, released))
        psnr_cleaned.append(_psnr(clean, after))
    true_all, guess_all, left_all = map(np.concatenate, (true, guess, left))
    return {
        "images": len(images),
        "correlation": float(np.corrcoef(true_all, guess_all)[0, 1]),
        "rms_true_change": float(np.sqrt(np.mean(true_all**2))),
        "rms_left_after_cleaning": float(np.sqrt(np.mean(left_all**2))),
        "psnr255_release_mean": float(np.mean(psnr_release)),
        "psnr255_cleaned_mean": float(np.mean(psnr_cleaned)),
    }


def _psnr(clean: np.ndarray, other: np.ndarray) -> float:
    mse = float(np.mean((clean - other) ** 2))
    return 10 * np.log10(255.0**2 / mse) if mse else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("release", type=Path, help="a published release (images, labels/final)")
    parser.add_argument("cleaned", type=Path, help="where the cleaned copy goes (new folder)")
    parser.add_argument("--model", choices=MODELS, default="phase")
    parser.add_argument("--original", type=Path, help="the originals, to measure the estimate")
    args = parser.parse_args(argv)
    if args.cleaned.exists():
        shutil.rmtree(args.cleaned)
    images, estimates = clean_release(args.release, args.cleaned, args.model)
    print(f"cleaned {len(images)} images of {args.release} into {args.cleaned} ({args.model})")
    if args.original is not None:
        measured = quality(images, estimates, args.original, args.cleaned, args.release)
        print(json.dumps({"release": str(args.release), "model": args.model, **measured}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
