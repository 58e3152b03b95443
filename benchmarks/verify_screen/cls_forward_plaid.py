import os
import sys
from cls_forward import *
KA = bytes.fromhex("a" * 64)
name = sys.argv[1]
for which in ("release_only", "last", "early"):
    model = build_classifier("resnet18", 2, 2); model.load_state_dict(torch.load(f"{OUT}/{name}.{which}.pt")); model.eval()
    for amp in (4,):
        probes = D["val_images"][D["val_labels"][:, 0] == 0].astype(np.float32)[:64]
        base = response(model, probes, 0, 0)
        r = np.array([(response(model, probes, field(k, "plaid"), amp) - base).mean() for k in [KA] + decoys(KA, 199)])
        p1 = (1 + (r[1:] >= r[0]).sum()) / 200; p2 = (1 + (abs(r[1:]) >= abs(r[0])).sum()) / 200
        print(name, which, f"one-sided p={p1:.3f} two-sided p={p2:.3f} key {r[0]:+.2f} decoys {r[1:].mean():+.2f}+-{r[1:].std():.2f}", flush=True)
