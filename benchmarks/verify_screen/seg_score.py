"""White-box DRIVE scoring: g = d(mean vessel-minus-background logit over non-vessel FOV)/d(input); s(k) = <g, mark_k>."""
import os
import sys, json, glob
import numpy as np, torch
sys.path.insert(0, os.path.dirname(__file__))
from seg_forward import OUT, crops, decoys, field, build_network, percentile_window
torch.set_num_threads(1)

def grad(model, data, size=256, where="bg"):
    xs, regs, scales = [], [], []
    for im, y0, x0, lab, fov in data:
        w = percentile_window(im)
        xs.append(w.normalise(im)[y0:y0+size, x0:x0+size])
        r = (~lab & fov) if where == "bg" else (lab & fov)
        regs.append(r[y0:y0+size, x0:x0+size]); scales.append(1.0 / w.width)
    x = torch.from_numpy(np.stack(xs)).float()[:, None].requires_grad_(True)
    z = model(x); d = z[:, 1] - z[:, 0]
    reg = torch.from_numpy(np.stack(regs))
    ((d * reg).sum((1, 2)) / reg.sum((1, 2))).sum().backward()
    g = x.grad[:, 0].numpy() * np.array(scales)[:, None, None]
    return g * np.stack(regs)  # only the pasted region counts

def stats(g, key, family, data, size=256, K=99):
    out = []
    for k in [key] + decoys(key, K):
        per = []
        for i, (im, y0, x0, lab, fov) in enumerate(data):
            f = field(k, family, im.shape)[y0:y0+size, x0:x0+size]
            per.append((g[i] * f).sum())
        out.append(per)
    out = np.array(out); s = out.mean(1)
    return (1 + (s[1:] >= s[0]).sum()) / (K + 1), (s[0] - s[1:].mean()) / s[1:].std()

if __name__ == "__main__":
    KA = bytes.fromhex("a" * 64); KB = bytes.fromhex("b" * 64); data = crops(10)
    family = sys.argv[2]
    for meta in sorted(glob.glob(f"{OUT}/{sys.argv[1]}*.json")):
        m = json.load(open(meta))
        for which in ("release_only", "last", "early"):
            model = build_network("unet", 2); model.load_state_dict(torch.load(meta[:-5] + f".{which}.pt")); model.eval()
            for where in ("bg", "fg"):
                g = grad(model, data, where=where)
                (pa, za), (pb, zb) = stats(g, KA, family, data), stats(g, KB, family, data)
                print(f"{m['name']:9s} {which:12s} dsc {m['dsc'][which]:.3f} {family} {where}: A p={pa:.2f} z={za:+.1f} | B p={pb:.2f} z={zb:+.1f}", flush=True)
