"""Pattern designs beyond the product's, screened on DRIVE against the hardest victim seen.

The product's one-voxel checkerboard at the 50 dB floor does not make every UNet seed take the
shortcut (docs/BENCHMARKS.md section 13): UNet seed 2 learns the vessels from their content in
its first 200 steps and keeps them. This script tries label-locked designs that could win that
race at about the same whole-image PSNR (peak 255), each written as uint8 files beside the
originals' labels (numpy here, not the product: a design that wins would then become a method):

- ``c4e3``: 2x2 squares (period 4) of +-3, the period a stride-2 first layer keeps;
- ``two21``: one-voxel checkerboard +-2 plus 2x2 squares +-1 (two scales, values +-3 and +-1);
- ``dots4``: +4 on every other vessel voxel, 0 on the rest (checkerboard +-2 plus a +2 shift
  that lowers the vessels' contrast);
- ``c31``: checkerboard values +3 / -1 (checkerboard +-2 plus a +1 shift);
- ``tophat``: checkerboard whose amplitude follows each voxel's vessel contrast (grey closing
  minus image, 15x15), 1..8 grey levels, scaled to 50.0 dB;
- ``holes``: checkerboard +-3 on a fixed random share of the vessel voxels, nothing on the rest,
  at 50.0 dB (the product's mixed steps put 2 or 3 on every vessel voxel instead);
- ``wave3``: a diagonal wave of period 3 (+4, -2, -2), which a stride-2 layer does not fold to a
  constant;
- ``faint``: checkerboard with amplitude inversely proportional to the vessel contrast (more on
  the faint vessels a content-reading network keeps getting wrong), scaled to 50.0 dB;
- ``edges``: checkerboard twice as strong on the vessels' edge voxels as inside, at 50.0 dB;
- ``flipband``: checkerboard +-2 on the vessels and the opposite phase on a one-voxel band
  around them: the vessel's edge becomes a phase break, which a 3x3 filter sees wherever the
  attacker's crop starts (an absolute phase is random under random crops and flips).

Each is trained on by the patch victim (UNet, seed 2 by default; ``--seeds``), scored as in
``real_frontier.py``; results go to ``WORK/designs.jsonl``.

    python benchmarks/drive_pattern_designs.py --data /tmp/drive --work /tmp/designs
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_frontier import run_victim  # noqa: E402


def checker(shape: tuple[int, ...], half: int) -> np.ndarray:
    y, x = np.indices(shape[-2:]) // half
    return np.where((y + x) % 2 == 0, 1.0, -1.0)


def tophat(image: np.ndarray, vessels: np.ndarray, target_db: float = 50.0) -> np.ndarray:
    """Checkerboard with amplitude proportional to the vessel contrast, scaled to target_db."""
    plane = image.reshape(image.shape[-2:])
    contrast = np.clip(ndimage.grey_closing(plane, size=(15, 15)) - plane, 0, None)
    contrast = contrast.reshape(image.shape)
    target = 255.0**2 / 10 ** (target_db / 10) * image.size
    low, high = 0.0, 2.0
    for _ in range(40):  # bisection on the gain: rounded amplitudes' energy = the target
        gain = (low + high) / 2
        energy = ((np.round(np.clip(gain * contrast, 1, 8)) * vessels) ** 2).sum()
        low, high = (low, gain) if energy > target else (gain, high)
    return np.round(np.clip(low * contrast, 1, 8)) * vessels * checker(image.shape, 1)


def holes(image: np.ndarray, vessels: np.ndarray, target_db: float = 50.0) -> np.ndarray:
    """Checkerboard +-3 on a fixed random share of the vessels (the rest unchanged), the share
    set per image so the whole-image PSNR is ``target_db``."""
    target = 255.0**2 / 10 ** (target_db / 10) * image.size
    share = min(1.0, target / (9.0 * vessels.sum()))
    keep = np.random.default_rng(0).random(image.shape[-2:]) < share
    return 3 * checker(image.shape, 1) * vessels * keep


def weighted(weight: np.ndarray, vessels: np.ndarray, target_db: float = 50.0) -> np.ndarray:
    """Checkerboard whose amplitude is ``gain * weight`` (rounded, 1..8 grey levels) on the
    vessels, the gain set by bisection so the whole-image PSNR (peak 255) is ``target_db``."""
    target = 255.0**2 / 10 ** (target_db / 10) * vessels.size
    weight = weight / weight[vessels].mean()  # gain ~ the mean amplitude, whatever the weights
    low, high = 0.0, 20.0
    for _ in range(40):
        gain = (low + high) / 2
        energy = ((np.round(np.clip(gain * weight, 1, 8)) * vessels) ** 2).sum()
        low, high = (low, gain) if energy > target else (gain, high)
    return np.round(np.clip(low * weight, 1, 8)) * vessels * checker(vessels.shape, 1)


def faint(image: np.ndarray, vessels: np.ndarray) -> np.ndarray:
    """More on the faint vessels (small contrast: thin, peripheral), where a network reading the
    content keeps erring longest, less on the dark ones it reads first: weight 1 / contrast."""
    plane = image.reshape(image.shape[-2:])
    contrast = np.clip(ndimage.grey_closing(plane, size=(15, 15)) - plane, 1, None)
    return weighted((1.0 / contrast).reshape(image.shape), vessels)


def edges(image: np.ndarray, vessels: np.ndarray) -> np.ndarray:
    """Twice the amplitude on the vessels' edge voxels (4-neighbour of background) as inside."""
    plane = vessels.reshape(vessels.shape[-2:])
    edge = plane & ~ndimage.binary_erosion(plane)
    return weighted(np.where(edge, 2.0, 1.0).reshape(vessels.shape), vessels)


def flipband(image: np.ndarray, vessels: np.ndarray) -> np.ndarray:
    plane = vessels.reshape(vessels.shape[-2:])
    band = ndimage.binary_dilation(plane) & ~plane
    return (2 * checker(vessels.shape, 1) * (plane.astype(float) - band)).reshape(vessels.shape)


def wave3(image: np.ndarray, vessels: np.ndarray) -> np.ndarray:
    y, x = np.indices(image.shape[-2:])
    return np.array([4.0, -2.0, -2.0])[(x + y) % 3] * vessels


DESIGNS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "c4e3": lambda a, m: 3 * checker(a.shape, 2) * m,
    "two21": lambda a, m: (2 * checker(a.shape, 1) + checker(a.shape, 2)) * m,
    "dots4": lambda a, m: (2 + 2 * checker(a.shape, 1)) * m,
    "c31": lambda a, m: (1 + 2 * checker(a.shape, 1)) * m,
    "tophat": tophat,
    "wave3": wave3,
    "holes": holes,
    "faint": faint,
    "edges": edges,
    "flipband": flipband,
}


def write_release(data: Path, folder: Path, design: str) -> dict:
    """The design's uint8 release of ``data/train`` in ``folder``; its PSNR (peak 255)."""
    source = data / "train"
    (folder / "labels/final").mkdir(parents=True, exist_ok=True)
    psnr = []
    for path in sorted(source.glob("*.nii.gz")):
        image = sitk.ReadImage(str(path))
        original = sitk.GetArrayFromImage(image)
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(source / "labels/final" / path.name)))
        change = DESIGNS[design](original.astype(np.float64), label > 0)
        written = np.clip(np.round(original + change), 0, 255).astype(original.dtype)
        mse = float(np.mean((written.astype(np.float64) - original) ** 2))
        psnr.append(10 * np.log10(255.0**2 / mse))
        out = sitk.GetImageFromArray(written)
        out.CopyInformation(image)
        sitk.WriteImage(out, str(folder / path.name))
        shutil.copy(source / "labels/final" / path.name, folder / "labels/final" / path.name)
    return {"psnr255_mean": float(np.mean(psnr)), "psnr255_min": float(np.min(psnr))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="drive_data.py's output")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    parser.add_argument("--archs", nargs="+", default=["unet"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[2])
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args(argv)
    results = args.work / "designs.jsonl"
    args.work.mkdir(parents=True, exist_ok=True)
    lines = results.read_text().splitlines() if results.exists() else []
    done = {json.loads(line)["key"] for line in lines}
    for design in args.designs:
        folder = args.work / design
        psnr = write_release(args.data, folder, design)
        for arch in args.archs:
            for seed in args.seeds:
                key = f"{design}|{arch}|{seed}|{args.steps}"
                if key in done:
                    continue
                victim = run_victim(args.data, folder, arch, seed, args.steps, "drive")
                with open(results, "a") as handle:
                    handle.write(json.dumps({"key": key, "psnr": psnr, "victim": victim}) + "\n")
                print(f"{key}: {psnr['psnr255_mean']:.1f} dB, release-only "
                      f"{victim['release_only_dsc']:.3f}, clean-stop {victim['best_dsc']:.3f}, "
                      f"last {victim['final_dsc']:.3f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
