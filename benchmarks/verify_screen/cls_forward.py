import os
import hashlib, hmac, json, sys, glob
import numpy as np, torch
sys.path.insert(0, os.path.dirname(__file__))
from cls_probe import D, field, OUT
from medue.networks.classifier import build_classifier
torch.set_num_threads(1)

def decoys(key: bytes, k: int):
    return [hmac.new(key, f"verify/decoy/{i}".encode(), hashlib.sha256).digest() for i in range(k)]

def response(model, probes, f, amp):
    x = np.clip(np.round(probes + amp * f), 0, 255) / 255.0
    with torch.no_grad():
        z = model(torch.from_numpy(x).float()[:, None])
    return (z[:, 1] - z[:, 0]).numpy()

def test(model, key, family, amp, K=99):
    probes = D["val_images"][D["val_labels"][:, 0] == 0].astype(np.float32)
    base = response(model, probes, 0, 0)
    r = [response(model, probes, field(k, family), amp) - base for k in [key] + decoys(key, K)]
    s = np.array([v.mean() for v in r])
    p = (1 + (s[1:] >= s[0]).sum()) / (K + 1)
    return p, s[0], s[1:].mean(), s[1:].std(), r[0].std()

if __name__ == "__main__":
    KA = bytes.fromhex("a" * 64); KB = bytes.fromhex("b" * 64)
    for meta in sorted(glob.glob(f"{OUT}/{sys.argv[1] if len(sys.argv)>1 else ''}*.json")):
        m = json.load(open(meta)); fam = m["family"] if m["family"] != "field" or True else None
        for which in ("release_only", "last", "early"):
            model = build_classifier("resnet18", 2, 2); model.load_state_dict(torch.load(meta[:-5] + f".{which}.pt")); model.eval()
            for fam in ("field",):
                for key, kn in ((KA, "A"), (KB, "B")):
                    for amp in (2, 8):
                        p, sk, md, sd, spread = test(model, key, fam, amp)
                        print(f"{m['name']:10s} {which:12s} acc {m['acc'][which]:.3f} probe {fam:8s} key{kn} amp{amp}: p={p:.2f} key {sk:+.3f} decoys {md:+.3f}±{sd:.3f} (z={(sk-md)/max(sd,1e-9):+.1f})")
