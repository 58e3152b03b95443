import sys
import os
sys.path.insert(0, os.path.dirname(__file__))
from cls_forward import *
KEYS = {"A": bytes.fromhex("a" * 64), "B": bytes.fromhex("b" * 64), "C": bytes.fromhex("c" * 64)}
for name in sys.argv[1:]:
    for which in ("release_only", "last", "early"):
        model = build_classifier("resnet18", 2, 2); model.load_state_dict(torch.load(f"{OUT}/{name}.{which}.pt")); model.eval()
        probes = D["val_images"][D["val_labels"][:, 0] == 0].astype(np.float32)[:64]
        base = response(model, probes, 0, 0); out = []
        for kn, key in KEYS.items():
            r = np.array([(response(model, probes, field(k, "plaid"), 4) - base).mean() for k in [key] + decoys(key, 199)])
            p = (1 + (r[1:] >= r[0]).sum()) / 200
            out.append(f"{kn}: p={p:.3f} z={(r[0]-r[1:].mean())/r[1:].std():+.1f}")
        print(name, which, " | ".join(out), flush=True)
