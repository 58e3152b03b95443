"""A MONAI bundle as a suspect: its own network, weights and pre-processing, run on stored units.

A bundle (MONAI Bundle specification, docs.monai.io/en/stable/mb_specification.html) is a folder
holding ``configs/inference.json`` (or ``.yaml``) and ``models/model.pt`` (a state dict) or
``models/model.ts`` (TorchScript). ``load_bundle`` reads, through ``monai.bundle.ConfigParser``:

- ``network_def``: the network (not needed when ``models/model.ts`` exists);
- ``preprocessing``: the bundle's dictionary transforms on the ``image`` key, applied to each
  image in stored units shaped (1, H, W), after its loaders (``LoadImaged``: the image is already
  in memory) and channel transforms (``EnsureChannelFirstd``: it already has its channel) are
  left out; a bundle without it gets the images as stored;
- ``inferer`` (e.g. ``SlidingWindowInferer``): how the network is run; else one forward pass.

Per-voxel scores on a grid the pre-processing changed (``Resized``, ``Spacingd``) are resampled
back to the image's grid (bilinear), so that they line up with the probes voxel for voxel.
Post-processing is not run: verification reads the class scores before any argmax.

A bundle's config is Python (``$`` expressions run when parsed): load only bundles you would
run. Device expressions are overridden to the CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

from medue.errors import InputError
from medue.verify.suspect import error_reason, misfit

CONFIGS = ("inference.json", "inference.yaml", "inference.yml")
SKIPPED = ("LoadImage", "LoadImaged", "EnsureChannelFirst", "EnsureChannelFirstd", "AddChanneld")


def is_bundle(path: Path) -> bool:
    """Whether ``path`` is a folder laid out as a MONAI bundle (it has ``configs/``)."""
    return Path(path).is_dir() and (Path(path) / "configs").is_dir()


def load_bundle(path: Path) -> torch.nn.Module:
    """The bundle in ``path`` as a model taking (N, 1, H, W) stored units and returning its class
    scores, in evaluation mode on the CPU.

    Raises ``InputError`` naming the bundle when it has no inference config, no network or
    weights, or when its config or weights cannot be read."""
    path = Path(path)
    config = next((path / "configs" / n for n in CONFIGS if (path / "configs" / n).is_file()), None)
    if config is None:
        raise InputError(path, f"is a bundle folder without configs/{CONFIGS[0]} (or .yaml)")
    from monai.bundle import ConfigParser  # noqa: PLC0415 - heavy, only for bundles

    parser = ConfigParser()
    try:
        parser.read_config(str(config))
    except Exception as error:  # noqa: BLE001 - JSON/YAML errors of many kinds
        raise InputError(config, f"cannot be read: {error_reason(error)}") from None
    parser["bundle_root"] = str(path)
    parser["device"] = "$torch.device('cpu')"
    network = _network(path, parser)
    transforms = _preprocessing(parser, config)
    inferer = _parsed(parser, "inferer", config) if "inferer" in parser else None
    return _Bundle(network, transforms, inferer).eval()


class _Bundle(torch.nn.Module):
    """The bundle's pre-processing per image, its inferer over the batch, scores on the grid."""

    def __init__(self, network: torch.nn.Module, transforms: list, inferer: object) -> None:
        super().__init__()
        self.network, self.transforms, self.inferer = network, transforms, inferer
        self.resampled: dict[str, str] = {}  # image grid -> network grid, when they differ

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        inputs = torch.stack([self._prepare(image) for image in images])
        grid = tuple(images.shape[2:])
        if tuple(inputs.shape[2:]) != grid:
            self.resampled[" x ".join(map(str, grid))] = " x ".join(map(str, inputs.shape[2:]))
        out = self.inferer(inputs, self.network) if self.inferer else self.network(inputs)
        if isinstance(out, (tuple, list)):
            out = out[0]
        out = torch.as_tensor(out)
        if out.ndim == images.ndim and tuple(out.shape[2:]) != grid:
            mode = "bilinear" if len(grid) == 2 else "trilinear"
            out = torch.nn.functional.interpolate(out.float(), size=grid, mode=mode)
        return out

    def _prepare(self, image: torch.Tensor) -> torch.Tensor:
        data = {"image": image}
        for transform in self.transforms:
            data = transform(data)
        return torch.as_tensor(data["image"]).float()


def _network(path: Path, parser) -> torch.nn.Module:
    scripted, weights = path / "models" / "model.ts", path / "models" / "model.pt"
    if scripted.is_file():
        try:
            return torch.jit.load(str(scripted), map_location="cpu")
        except Exception as error:  # noqa: BLE001
            raise InputError(
                scripted, f"is not a TorchScript model: {error_reason(error)}"
            ) from None
    if "network_def" not in parser:
        raise InputError(path, "bundle config defines no network_def and there is no model.ts")
    if not weights.is_file():
        raise InputError(path, "bundle has no models/model.pt (weights) or models/model.ts")
    network = _parsed(parser, "network_def", path)
    try:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch's unpickler raises many kinds on a foreign file
        raise InputError(weights, "is not a PyTorch state dict") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a checkpoint saved by the bundle's trainer
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise InputError(weights, f"does not fit network_def: {misfit(error)}") from None
    return network


def _preprocessing(parser, config: Path) -> list:
    if "preprocessing" not in parser:
        return []
    composed = _parsed(parser, "preprocessing", config)
    transforms = list(getattr(composed, "transforms", [composed]))
    return [t for t in transforms if type(t).__name__ not in SKIPPED]


def _parsed(parser, key: str, where: Path) -> object:
    try:
        return parser.get_parsed_content(key)
    except Exception as error:  # noqa: BLE001 - a config's own code can raise anything
        raise InputError(where, f"bundle's {key} cannot be built: {error_reason(error)}") from None
