"""Score DRIVE suspects: paste amp x tile(key) on non-vessel FOV pixels of clean test crops; response = mean d(logit1-logit0)."""
import os
import hashlib, hmac, json, sys, glob
import numpy as np, torch, SimpleITK as sitk
sys.path.insert(0, os.path.dirname(__file__))
from seg_probe import field, DATA, OUT
from medue.evaluate.victim import build_network
from medue.intensity import percentile_window
torch.set_num_threads(1)

def decoys(key, k):
    return [hmac.new(key, f"verify/decoy/{i}".encode(), hashlib.sha256).digest() for i in range(k)]

def crops(n=5, size=256):
    out = []
    for i in range(n):
        name = f"{i+1:02d}.nii.gz"
        im = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "test" / name))).astype(np.float64)
        lab = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "test/labels/final" / name))) > 0
        fov = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "test_fov" / name))) > 0
        y0, x0 = (im.shape[0] - size) // 2, (im.shape[1] - size) // 2
        out.append((im, y0, x0, lab, fov))
    return out

def response(model, data, key, family, amp, size=256):
    xs, regions = [], []
    for im, y0, x0, lab, fov in data:
        w = percentile_window(im)
        mod = im if key is None else np.clip(np.round(im + amp * field(key, family, im.shape) * (~lab & fov)), 0, 255)
        xs.append(w.normalise(mod)[y0:y0+size, x0:x0+size]); regions.append((~lab & fov)[y0:y0+size, x0:x0+size])
    with torch.no_grad():
        z = model(torch.from_numpy(np.stack(xs)).float()[:, None])
    d = (z[:, 1] - z[:, 0]).numpy()
    return d, np.stack(regions)

def test(model, data, key, family, amp, K=99):
    base, reg = response(model, data, None, family, amp)
    per = []
    for k in [key] + decoys(key, K):
        d, _ = response(model, data, k, family, amp)
        per.append([((d - base)[i][reg[i]]).mean() for i in range(len(d))])
    per = np.array(per); s = per.mean(1)
    p = (1 + (s[1:] >= s[0]).sum()) / (K + 1)
    return p, s[0], s[1:].mean(), s[1:].std(), per[0].std()

if __name__ == "__main__":
    KA = bytes.fromhex("a" * 64); KB = bytes.fromhex("b" * 64); data = crops()
    for meta in sorted(glob.glob(f"{OUT}/{sys.argv[1] if len(sys.argv) > 1 else ''}*.json")):
        m = json.load(open(meta))
        for which in ("release_only", "last", "early"):
            model = build_network("unet", 2); model.load_state_dict(torch.load(meta[:-5] + f".{which}.pt")); model.eval()
            for key, kn in ((KA, "A"), (KB, "B")):
                for amp in (8,):
                    p, sk, md, sd, spread = test(model, data, key, "tile4", amp)
                    print(f"{m['name']:9s} {which:12s} dsc {m['dsc'][which]:.3f} key{kn} amp{amp}: p={p:.2f} key {sk:+.3f} decoys {md:+.3f}+-{sd:.3f} (z={(sk-md)/max(sd,1e-9):+.1f}) img-sd {spread:.3f}", flush=True)
