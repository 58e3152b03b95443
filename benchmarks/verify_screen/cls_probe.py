"""Feasibility: do PneumoniaMNIST victims learn a keyed random sign field key-specifically?"""
import os
import hashlib, hmac, json, sys, time
import numpy as np, torch
sys.path.insert(0, os.path.dirname(__file__))
from medue.networks.classifier import build_classifier
torch.set_num_threads(1)
D = np.load(os.environ.get("PNEUMONIAMNIST", "/work/shared/data/pneumoniamnist/pneumoniamnist.npz"))
OUT = os.environ.get("SCREEN_OUT", "/tmp/vcls")

def seed_of(key: bytes, purpose: str) -> np.random.SeedSequence:
    return np.random.SeedSequence(int.from_bytes(hmac.new(key, purpose.encode(), hashlib.sha256).digest(), "big"))

def field(key: bytes, family: str) -> np.ndarray:
    rng = np.random.default_rng(seed_of(key, "presence/field"))
    if family == "field":
        return rng.choice([-1.0, 1.0], size=(28, 28))
    if family == "plaid":  # cos(2 pi fx x) cos(2 pi fy y), fx, fy keyed in [0.2, 0.5] cycles/pixel
        fx, fy = rng.uniform(0.2, 0.5, size=2)
        y, x = np.mgrid[:28, :28]
        return np.cos(2 * np.pi * fx * x) * np.cos(2 * np.pi * fy * y)
    if family == "field-hf":  # checkerboard x 2x2-block signs: energy near Nyquist
        y, x = np.mgrid[:28, :28]
        blocks = rng.choice([-1.0, 1.0], size=(14, 14)).repeat(2, 0).repeat(2, 1)
        return np.where((y + x) % 2 == 0, 1.0, -1.0) * blocks
    raise ValueError(family)

def marks(key, family, eps):
    """The release's change on a marked image: a family, or 'stripes+F' = 2-level row stripes + eps x keyed F."""
    if family.startswith("stripes+"):
        y = np.arange(28)[:, None]
        return 2.0 * np.where(y % 2 == 0, 1.0, -1.0) + eps * field(key, family[len("stripes+"):])
    return eps * field(key, family)

def release(key, family, eps, marked=1):
    img = D["train_images"].astype(np.float32); lab = D["train_labels"][:, 0]
    if key is not None and family in ("stripes+plaid", "plaid-on-0"):
        y = np.arange(28)[:, None]
        img[lab == 1] += 2.0 * np.where(y % 2 == 0, 1.0, -1.0)
        img[lab == (1 if family == "stripes+plaid" else 0)] += eps * field(key, "plaid")
    elif key is not None and family == "two-sided":  # class 1: row stripes +-2; class 0: eps x keyed field
        y = np.arange(28)[:, None]
        img[lab == 1] += 2.0 * np.where(y % 2 == 0, 1.0, -1.0)
        img[lab == 0] += eps * field(key, "field")
    elif key is not None:
        img[lab == marked] += marks(key, family, eps)
    return np.clip(np.round(img), 0, 255) / 255.0, lab

def train(images, labels, seed, epochs=20, val_frac=0.2):
    rng = np.random.default_rng(seed); n = len(labels)
    held = np.zeros(n, bool); held[rng.choice(n, int(val_frac * n), replace=False)] = True
    test = torch.from_numpy(D["test_images"] / 255.0).float()[:, None]; tl = D["test_labels"][:, 0]
    torch.manual_seed(seed)
    model = build_classifier("resnet18", 2, 2)
    opt = torch.optim.Adam(model.parameters(), 1e-3); lossf = torch.nn.CrossEntropyLoss()
    X = torch.from_numpy(images[~held]).float()[:, None]; Y = torch.from_numpy(labels[~held]).long()
    V = torch.from_numpy(images[held]).float()[:, None]; VY = labels[held]
    g = torch.Generator().manual_seed(seed)
    best = {"release_only": (-1, None), "early": (-1, None)}; hist = []
    for ep in range(epochs):
        model.train()
        for b in torch.randperm(len(Y), generator=g).split(32):
            xb = X[b]; flip = torch.rand(len(b), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            opt.zero_grad(); l = lossf(model(xb), Y[b]); l.backward(); opt.step()
        model.eval()
        with torch.no_grad():
            va = (model(V).argmax(1).numpy() == VY).mean(); ta = (model(test).argmax(1).numpy() == tl).mean()
        hist.append((float(va), float(ta)))
        sd = {k: v.clone() for k, v in model.state_dict().items()}
        if va > best["release_only"][0]: best["release_only"] = (va, (sd, ta, ep))
        if ta > best["early"][0]: best["early"] = (ta, (sd, ta, ep))
    out = {"last": (model.state_dict(), hist[-1][1], epochs - 1)}
    out.update({k: v[1] for k, v in best.items()})
    return out, hist

if __name__ == "__main__":
    name, keyhex, family, eps, seed = sys.argv[1:6]
    key = bytes.fromhex(keyhex) if keyhex != "none" else None
    t = time.time()
    imgs, labs = release(key, family, float(eps))
    models, hist = train(imgs, labs, int(seed))
    for k, (sd, acc, ep) in models.items():
        torch.save(sd, f"{OUT}/{name}.{k}.pt")
    json.dump({"name": name, "key": keyhex, "family": family, "eps": float(eps), "seed": int(seed),
               "acc": {k: float(v[1]) for k, v in models.items()}, "epoch": {k: v[2] for k, v in models.items()},
               "hist": hist, "seconds": time.time() - t}, open(f"{OUT}/{name}.json", "w"))
    print(name, {k: round(float(v[1]), 3) for k, v in models.items()}, round(time.time() - t), "s")
