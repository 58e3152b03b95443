"""The suspect model, loaded so that it takes images in their stored units.

Four forms are read (``load_suspect``):

- a TorchScript file (``torch.jit.save``): it takes images in stored units, shaped (N, 1, H, W)
  or (N, 1, D, H, W), and returns per-voxel class scores (N, C, ...) for segmentation or
  per-image class scores (N, C) for classification; its own pre-processing is inside it;
- a state dict (``torch.save(model.state_dict())``) of a named MONAI architecture, built as
  MedUE's victims are (``medue.evaluate.victim.build_network``: UNet, SegResNet, AttentionUnet;
  ``medue.networks.classifier``: ResNet-18, DenseNet-121), with the intensity mapping that turns
  stored units into its inputs (``Intensity``);
- a MONAI bundle folder, with its own network, weights and pre-processing from its config
  (``medue.verify.bundle``);
- anything else is refused with one line naming the file.

A suspect is only ever run forward, in evaluation mode, without gradients, on the CPU.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medue.errors import InputError

SEGMENTERS = ("unet", "segresnet", "attentionunet")
CLASSIFIERS = ("resnet18", "densenet121")


@dataclass(frozen=True)
class Intensity:
    """Stored units -> network input: ``(value - low) / (high - low)``, clipped to [0, 1] when
    ``clip``. ``uint8`` is 0..255 -> [0, 1] (what MedUE's victims read for 8-bit images)."""

    low: float = 0.0
    high: float = 255.0
    clip: bool = True

    @classmethod
    def parse(cls, text: str) -> Intensity:
        """``uint8``, ``none`` (as stored) or ``LOW,HIGH`` (e.g. ``-1000,1000`` for CT in HU)."""
        if text == "uint8":
            return cls()
        if text == "none":
            return cls(0.0, 1.0, clip=False)
        try:
            low, high = (float(v) for v in text.split(","))
        except ValueError:
            raise InputError(None, f"--intensity {text!r}: give uint8, none or LOW,HIGH") from None
        if not high > low:
            raise InputError(None, f"--intensity {text!r}: HIGH must be above LOW")
        return cls(low, high)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        scaled = (images - self.low) / (self.high - self.low)
        return scaled.clamp(0.0, 1.0) if self.clip else scaled


class _Mapped(torch.nn.Module):
    """A built network behind its intensity mapping, its input zero-padded (centred) as MedUE's
    victims pad it: to ``min_extent`` per axis (DenseNet-121 needs 32) and to a multiple of
    ``multiple`` (a segmenter's down-samplings); a per-voxel output is cropped back."""

    def __init__(
        self, network: torch.nn.Module, intensity: Intensity, min_extent: int = 1, multiple: int = 1
    ) -> None:
        super().__init__()
        self.network, self.intensity = network, intensity
        self.min_extent, self.multiple = min_extent, multiple

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = self.intensity(images)
        sizes = images.shape[2:]
        pad: list[int] = []
        for size in reversed(sizes):
            target = max(self.min_extent, -(-size // self.multiple) * self.multiple)
            pad += [(target - size) // 2, target - size - (target - size) // 2]
        if not any(pad):
            return self.network(images)
        out = self.network(torch.nn.functional.pad(images, pad))
        if out.ndim != images.ndim:
            return out
        starts = pad[::2][::-1]
        crop = tuple(slice(a, a + n) for a, n in zip(starts, sizes, strict=True))
        return out[(slice(None), slice(None), *crop)]


def load_suspect(
    path: Path, arch: str | None = None, intensity: Intensity | None = None
) -> torch.nn.Module:
    """The suspect in ``path``, in evaluation mode: a TorchScript model as it is, a MONAI bundle
    folder with its own pre-processing (``arch`` and ``intensity`` unused), or a state dict
    of ``arch`` (one of ``SEGMENTERS`` + ``CLASSIFIERS``, two output classes for a classifier
    unless the state dict says otherwise) behind ``intensity`` (default ``uint8``).

    Raises ``InputError`` naming the file when it is missing, is neither form, or does not fit
    ``arch``."""
    from medue.verify.bundle import is_bundle, load_bundle  # noqa: PLC0415 - it uses this module

    path = Path(path)
    if is_bundle(path):
        return load_bundle(path)
    if not path.is_file():
        raise InputError(path, "model file does not exist")
    try:
        with warnings.catch_warnings():  # torch 2.9 deprecates TorchScript; it still loads
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(str(path), map_location="cpu")
    except Exception:  # noqa: BLE001 - not TorchScript: try a state dict next
        model = None
    if model is not None:
        return model.eval()
    state = _state_dict(path)
    if arch is None:
        networks = ", ".join(SEGMENTERS + CLASSIFIERS)
        raise InputError(path, "is a state dict, not a TorchScript model: name its network "
                         f"(arch: {networks}; --arch on the command line)")  # fmt: skip
    network = _build(arch, state, path)
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise InputError(path, f"does not fit --arch {arch}: {misfit(error)}") from None
    from medue.evaluate.classifier_victim import MIN_EXTENT  # noqa: PLC0415
    from medue.evaluate.slices import MULTIPLE  # noqa: PLC0415

    multiple = MULTIPLE if arch in SEGMENTERS else 1
    return _Mapped(network, intensity or Intensity(), MIN_EXTENT.get(arch, 1), multiple).eval()


def _state_dict(path: Path) -> dict:
    try:  # weights only: a stranger's pickle never runs code here
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch's unpickler raises many kinds on a foreign file
        raise InputError(path, "is not a TorchScript model or a PyTorch state dict") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(path, "is not a TorchScript model or a PyTorch state dict of tensors")
    return state


def _build(arch: str, state: dict, path: Path) -> torch.nn.Module:
    if arch in SEGMENTERS:
        from medue.evaluate.victim import build_network  # noqa: PLC0415 - MONAI nets, on demand

        return build_network(arch, _classes(state, 2))
    if arch in CLASSIFIERS:
        from medue.networks.classifier import build_classifier  # noqa: PLC0415

        return build_classifier(arch, 2, _classes(state, 2))
    known = ", ".join(SEGMENTERS + CLASSIFIERS)
    raise InputError(
        path, f"--arch {arch!r} is not one MedUE builds ({known}); export it as TorchScript"
    )


def _classes(state: dict, default: int) -> int:
    """The output classes a state dict was trained with: the rows of its last bias."""
    biases = [v for k, v in state.items() if k.endswith("bias") and v.ndim == 1]
    return int(biases[-1].shape[0]) if biases else default


@torch.no_grad()
def scores(
    model: torch.nn.Module, images: np.ndarray, source: str | Path, batch: int | None = None
) -> np.ndarray:
    """The model's class scores for ``images`` (N, H, W) in stored units: (N, C, H, W) for a
    segmenter, (N, C) for a classifier, float32.

    Raises ``InputError`` naming ``source`` (the model file) when the model refuses the input
    shape or returns something of neither shape."""
    batch = batch or max(1, min(256, 2**18 // max(1, int(np.prod(images.shape[1:])))))
    out = []
    for start in range(0, len(images), batch):
        chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + batch], np.float32))
        try:
            result = model(chunk[:, None])
        except Exception as error:  # noqa: BLE001 - a suspect's own code can raise anything
            first = error_reason(error)
            shape = ", ".join(map(str, images.shape[1:]))
            raise InputError(
                source, f"does not take images shaped (N, 1, {shape}): {first}"
            ) from None
        if isinstance(result, (tuple, list)):
            result = result[0]
        if (
            not isinstance(result, torch.Tensor)
            or result.ndim not in (2, 4)
            or result.shape[0] != len(chunk)
        ):
            shape = (
                tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
            )
            raise InputError(
                source, f"returned {shape}; expected class scores (N, C) or (N, C, H, W)"
            )
        out.append(result.float().numpy())
    return np.concatenate(out)


def misfit(error: Exception) -> str:
    """What ``load_state_dict``'s error says differs (its first line that is not a heading)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return next((line for line in lines if not line.endswith(":")), "its tensors differ")[:200]


def error_reason(error: Exception) -> str:
    """The line of a model's error that says why: TorchScript puts its trace first and the
    cause last ("RuntimeError: expects 28 x 28 images"); Python errors say it first."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if "TorchScript interpreter" in lines[0] and len(lines) > 1:
        return lines[-1][:200]
    return lines[0][:200]


def model_sha256(path: Path) -> str:
    """SHA-256 (hex) of a model file, or of a folder's files (names and bytes, in name order):
    what a report quotes so a third party can tell which model was tested."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()
