"""Feasibility: do DRIVE patch victims learn a keyed periodic tile key-specifically?"""
import os
import hashlib, hmac, json, sys, time
from pathlib import Path
import numpy as np, torch, SimpleITK as sitk
sys.path.insert(0, os.path.dirname(__file__))
import medue.evaluate.patch_victim as pv
from medue.evaluate import VictimConfig, load_slices
from medue.evaluate.slices import pad_centred
torch.set_num_threads(1)
DATA = Path(os.environ.get("DRIVE", "/tmp/drive")); OUT = Path(os.environ.get("SCREEN_OUT", "/tmp/vseg"))

def tile(key: bytes, period: int) -> np.ndarray:
    seed = np.random.SeedSequence(int.from_bytes(hmac.new(key, b"pattern/tile", hashlib.sha256).digest(), "big"))
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(period, period))

def plaid(key: bytes, shape) -> np.ndarray:
    """cos(2 pi fx x) cos(2 pi fy y), fx, fy keyed in [0.2, 0.5] cycles/voxel: flip-symmetric, in [-1, 1]."""
    seed = np.random.SeedSequence(int.from_bytes(hmac.new(key, b"pattern/plaid", hashlib.sha256).digest(), "big"))
    fx, fy = np.random.default_rng(seed).uniform(0.2, 0.5, size=2)
    y, x = np.mgrid[: shape[0], : shape[1]]
    return np.cos(2 * np.pi * fx * x) * np.cos(2 * np.pi * fy * y)

def detuned(key: bytes, shape) -> np.ndarray:
    """cos(2 pi fx x) cos(2 pi fy y), fx, fy keyed in [0.4, 0.5]: a checkerboard with a keyed slow beat."""
    seed = np.random.SeedSequence(int.from_bytes(hmac.new(key, b"pattern/detuned", hashlib.sha256).digest(), "big"))
    fx, fy = np.random.default_rng(seed).uniform(0.4, 0.5, size=2)
    y, x = np.mgrid[: shape[0], : shape[1]]
    return np.cos(2 * np.pi * fx * x) * np.cos(2 * np.pi * fy * y)

def nyqseq(key: bytes, shape) -> np.ndarray:
    """(-1)^x * s(y mod 16), s a keyed +-1 sequence: Nyquist along x (away from anatomy, as the
    checkerboard), keyed along y; ~1,000 keys up to the shifts, flips and sign a victim sees."""
    seed = np.random.SeedSequence(int.from_bytes(hmac.new(key, b"pattern/nyqseq", hashlib.sha256).digest(), "big"))
    s = np.random.default_rng(seed).choice([-1.0, 1.0], size=16)
    y, x = np.mgrid[: shape[0], : shape[1]]
    return np.where(x % 2 == 0, 1.0, -1.0) * s[y % 16]

def field(key: bytes, family: str, shape) -> np.ndarray:
    """The keyed part of a family, +-1, over shape (tiled from the origin)."""
    if family == "nyqseq":
        return nyqseq(key, shape)
    if family == "detuned":
        return detuned(key, shape)
    if family == "plaid":
        return plaid(key, shape)
    period = int(family.split("tile")[1])
    t = tile(key, period)
    reps = (shape[0] // period + 1, shape[1] // period + 1)
    return np.tile(t, reps)[: shape[0], : shape[1]]

def change(key, family, shape, vessels, amp):
    y, x = np.mgrid[: shape[0], : shape[1]]
    checker = np.where((y + x) % 2 == 0, 1.0, -1.0)
    if family.startswith("checker+"):
        if family == "checker+plaid":
            return (2.0 * checker + amp * plaid(key, shape)) * vessels
        return (2.0 * checker + amp * field(key, family.split("+")[1], shape)) * vessels
    return amp * field(key, family, shape) * vessels

def write_release(key, family, amp, folder: Path):
    src = DATA / "train"; (folder / "labels/final").mkdir(parents=True, exist_ok=True); ps = []
    for path in sorted(src.glob("*.nii.gz")):
        im = sitk.ReadImage(str(path)); o = sitk.GetArrayFromImage(im)
        lab = sitk.GetArrayFromImage(sitk.ReadImage(str(src / "labels/final" / path.name)))
        w = o.astype(np.float64)
        if key is not None:
            w = w + change(key, family, o.shape, lab > 0, amp)
        w = np.clip(np.round(w), 0, 255).astype(o.dtype)
        mse = np.mean((w.astype(float) - o) ** 2); ps.append(10 * np.log10(255**2 / mse) if mse else 99)
        out = sitk.GetImageFromArray(w); out.CopyInformation(im); sitk.WriteImage(out, str(folder / path.name))
        sitk.WriteImage(sitk.ReadImage(str(src / "labels/final" / path.name)), str(folder / "labels/final" / path.name))
    return float(np.mean(ps))

if __name__ == "__main__":
    name, keyhex, family, amp, seed = sys.argv[1:6]; seed = int(seed); amp = float(amp)
    key = bytes.fromhex(keyhex) if keyhex != "none" else None
    t0 = time.time(); rel = OUT / "releases" / name
    psnr = write_release(key, family, amp, rel)
    train, test = load_slices(rel), load_slices(DATA / "test")
    masks = [sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "test_fov" / f"{i}.nii.gz"))) for i in test.ids]
    fov = np.stack([pad_centred(m, *test.images.shape[1:]) for m in masks]).astype(np.int64)
    snaps = []; original = pv.evaluate
    def spy(model, data, k, mask=None):
        s = original(model, data, k, mask); snaps.append((s, {a: b.clone() for a, b in model.state_dict().items()})); return s
    pv.evaluate = spy
    cfg = VictimConfig(architecture="unet", epochs=1, seed=seed, num_classes=2, validation_fraction=0.2)
    res = pv.train_patch_victim(train, test, cfg, pv.StepSchedule(steps=1500), fov)
    tests, vals = snaps[0::2], snaps[1::2]
    pick = {"last": len(tests) - 1, "early": int(np.argmax([s for s, _ in tests])), "release_only": int(np.argmax([s for s, _ in vals]))}
    acc = {}
    for k, i in pick.items():
        torch.save(tests[i][1] if k != "release_only" else vals[i][1], OUT / f"{name}.{k}.pt"); acc[k] = tests[i][0]
    json.dump({"name": name, "key": keyhex, "family": family, "amp": amp, "seed": seed, "psnr": psnr, "dsc": acc,
               "curve": [s for s, _ in tests], "seconds": time.time() - t0}, open(OUT / f"{name}.json", "w"))
    print(name, round(psnr, 2), {k: round(v, 3) for k, v in acc.items()}, round(time.time() - t0), "s", flush=True)
