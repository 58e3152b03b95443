"""Feasibility of a keyed-membership test on DRIVE: does a UNet trained on a release separate the
images it trained on from the release's images it never saw (its 20 % validation hold-out)?

Usage: python seg_membership.py NAME... (models of benchmarks/verify_segmentation.py in
$VERIFY_WORK, default /tmp/vsg; DRIVE in $DRIVE, default /tmp/drive). Prints, per model and per
image source (release d0, release d1, clean originals), the mean per-image cross-entropy of the
trained and of the held-out images.
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../plugin"))
from medue.evaluate import load_slices
from medue.evaluate.victim import hold_out
from medue.verify.suspect import Intensity, load_suspect, scores

WORK = Path(os.environ.get("VERIFY_WORK", "/tmp/vsg"))
DRIVE = Path(os.environ.get("DRIVE", "/tmp/drive"))
torch.set_num_threads(1)
clean = load_slices(DRIVE / "train")
sources = {"d0": load_slices(WORK / "releases/d0"), "d1": load_slices(WORK / "releases/d1"), "clean": clean}
for name in sys.argv[1:]:
    info = json.loads((WORK / "models" / f"{name}.json").read_text())
    held = set(hold_out(clean, 0.2, info["seed"])[1].ids)
    model = load_suspect(WORK / "models" / f"{name}.release_only.pt", info["arch"], Intensity())
    for label, data in sources.items():
        ce = []
        for image, truth in zip(data.images, data.labels):
            logp = torch.log_softmax(torch.from_numpy(scores(model, image[None].astype(float), name)), 1)[0]
            ce.append(float(-logp.gather(0, torch.from_numpy(truth.astype(np.int64))[None]).mean()))
        ce, is_held = np.array(ce), np.array([i in held for i in data.ids])
        print(f"{name} on {label}: cross-entropy trained {ce[~is_held].mean():.4f} +- {ce[~is_held].std():.4f}, "
              f"held out {ce[is_held].mean():.4f} +- {ce[is_held].std():.4f}", flush=True)
