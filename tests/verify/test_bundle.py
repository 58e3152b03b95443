"""A MONAI bundle folder as a suspect: its network from ``network_def``, weights from
``models/model.pt``, its own ``preprocessing`` and ``inferer``; refusals in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medue.errors import InputError
from medue.verify.suspect import load_suspect, scores

LOADERS = [
    {"_target_": "LoadImaged", "keys": "image"},
    {"_target_": "EnsureChannelFirstd", "keys": "image"},
]


def write_bundle(folder: Path, network: dict, preprocessing: list | None, weights=None) -> Path:
    """A bundle laid out as the MONAI Bundle specification has it."""
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    (folder / "configs" / "metadata.json").write_text(json.dumps({"version": "0.1.0"}))
    config: dict = {"network_def": network, "inferer": {"_target_": "SimpleInferer"}}
    if preprocessing is not None:
        config["preprocessing"] = {"_target_": "Compose", "transforms": LOADERS + preprocessing}
    (folder / "configs" / "inference.json").write_text(json.dumps(config))
    torch.save(weights if weights is not None else {}, folder / "models" / "model.pt")
    return folder


THRESHOLD = {"_target_": "tests.segmentation_suspects.Threshold", "threshold": 0.5}
SCALE = {"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": 0, "a_max": 200,
         "b_min": 0.0, "b_max": 1.0, "clip": True}  # fmt: skip


def test_the_bundles_own_preprocessing_is_applied_to_stored_units(tmp_path):
    bundle = write_bundle(tmp_path / "b", THRESHOLD, [SCALE])
    images = np.random.default_rng(0).integers(0, 255, (2, 24, 20)).astype(np.float64)
    out = scores(load_suspect(bundle), images, bundle)
    assert out.shape == (2, 2, 24, 20)
    assert np.array_equal(out.argmax(axis=1) == 1, images > 100)  # 0.5 of 0..200


def test_scores_on_a_grid_the_preprocessing_changed_come_back_on_the_images_grid(tmp_path):
    resize = {"_target_": "Resized", "keys": "image", "spatial_size": [12, 10]}
    bundle = write_bundle(tmp_path / "b", THRESHOLD, [SCALE, resize])
    images = np.zeros((1, 24, 20))
    images[0, :, 10:] = 200.0
    model = load_suspect(bundle)
    out = scores(model, images, bundle)
    assert out.shape == (1, 2, 24, 20)
    assert (out[0].argmax(axis=0)[:, :9] == 0).all() and (out[0].argmax(axis=0)[:, 11:] == 1).all()
    assert model.resampled == {"24 x 20": "12 x 10"}  # what the report warns about


def test_weights_come_from_model_pt(tmp_path):
    from monai.networks.nets import UNet

    spec = {"spatial_dims": 2, "in_channels": 1, "out_channels": 2, "channels": [4, 8],
            "strides": [2], "num_res_units": 0}  # fmt: skip
    trained = UNet(**spec).eval()
    bundle = write_bundle(tmp_path / "b", {"_target_": "UNet", **spec}, None, trained.state_dict())
    images = np.random.default_rng(1).normal(0, 1, (1, 16, 16))
    with torch.no_grad():
        expected = trained(torch.from_numpy(images).float()[:, None]).numpy()
    assert np.allclose(scores(load_suspect(bundle), images, bundle), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("no config", "without configs/inference.json"),
        ("no weights", "has no models/model.pt"),
        ("bad weights", "model.pt: is not a PyTorch state dict"),
        ("wrong weights", "does not fit network_def"),
        ("bad network", "network_def cannot be built"),
    ],
)
def test_a_broken_bundle_gets_one_line_naming_it(tmp_path, breakage, message):
    network = {"_target_": "NoSuchNetwork"} if breakage == "bad network" else THRESHOLD
    weights = {"conv.weight": torch.zeros(2)} if breakage == "wrong weights" else None
    if breakage == "wrong weights":
        network = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": 2,
                   "channels": [4, 8], "strides": [2]}  # fmt: skip
    bundle = write_bundle(tmp_path / "b", network, [SCALE], weights)
    if breakage == "no config":
        (bundle / "configs" / "inference.json").unlink()
    if breakage == "no weights":
        (bundle / "models" / "model.pt").unlink()
    if breakage == "bad weights":
        (bundle / "models" / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError) as raised:
        load_suspect(bundle)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert not str(raised.value).endswith(":")  # says what differs, not only that it does
