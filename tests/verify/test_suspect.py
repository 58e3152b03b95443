"""``medue.verify.suspect``: a segmenter's state dict runs on images of any size, as the victims
padded them (to a multiple of 16, centred), and its per-voxel scores come back at the image's
size, the padding cropped off."""

from __future__ import annotations

import numpy as np
import torch

from medue.evaluate.slices import pad_centred
from medue.evaluate.victim import build_network
from medue.verify.suspect import load_suspect, scores


def test_a_unet_state_dict_pads_like_the_victims_and_crops_back(tmp_path):
    torch.manual_seed(0)
    network = build_network("unet", 2).eval()
    torch.save(network.state_dict(), tmp_path / "unet.pt")
    image = np.random.default_rng(0).integers(0, 256, (37, 45)).astype(np.float64)
    out = scores(load_suspect(tmp_path / "unet.pt", "unet"), image[None], "unet.pt")
    assert out.shape == (1, 2, 37, 45)
    padded = pad_centred(image / 255.0, 48, 48)  # what the victim's loader gave the network
    with torch.no_grad():
        expected = network(torch.from_numpy(padded).float()[None, None])[0].numpy()
    top, left = (48 - 37) // 2, (48 - 45) // 2
    np.testing.assert_allclose(out[0], expected[:, top : top + 37, left : left + 45], atol=1e-5)
