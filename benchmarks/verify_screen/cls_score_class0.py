import os
import sys
from cls_forward import *
from scipy.ndimage import uniform_filter
def grad(model, stripes):
    probes = D["val_images"][D["val_labels"][:, 0] == CLS].astype(np.float32)
    y = np.arange(28)[:, None]; s = stripes * np.where(y % 2 == 0, 1.0, -1.0)
    x = torch.from_numpy(np.clip(probes + s, 0, 255) / 255.0).float()[:, None].requires_grad_(True)
    z = model(x); (SIGN * (z[:, 1] - z[:, 0])).sum().backward()
    return x.grad[:, 0].numpy()  # (N,28,28)
def stat(g, f, hp, flips):
    if hp: g = g - uniform_filter(g, size=(1, 3, 3), mode="reflect")
    fs = [f, f[:, ::-1]] if flips else [f]
    per = sum((g * v).sum((1, 2)) for v in fs)
    return per
CLS, SIGN = (1, -1.0) if "p0" in sys.argv[1] else (0, 1.0)
KA = bytes.fromhex("a" * 64); KB = bytes.fromhex("b" * 64)
for name in sys.argv[1:]:
    for which in ("release_only", "last", "early"):
        model = build_classifier("resnet18", 2, 2); model.load_state_dict(torch.load(f"{OUT}/{name}.{which}.pt")); model.eval()
        for stripes in (0, 2):
            g = grad(model, stripes)
            for hp in (False, True):
                for flips in (False, True):
                    out = []
                    for key in (KA, KB):
                        per = [stat(g, field(k, "plaid"), hp, flips) for k in [key] + decoys(key, 999)]
                        s = np.array([v.mean() for v in per]); p = (1 + (s[1:] >= s[0]).sum()) / len(s)
                        out.append(f"p={p:.3f} z={(s[0]-s[1:].mean())/s[1:].std():+.1f}")
                    print(f"{name} {which:12s} stripes{stripes} hp{int(hp)} flips{int(flips)}: A {out[0]} | B {out[1]}", flush=True)
