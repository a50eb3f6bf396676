"""Make docs/images/formats_*.jpg and the table of docs/formats.md from one photo.

Run from the repository root: ``python docs/images/formats_make.py [--method default]``.
Every tile is rendered from the *decoded* file (OpenEXR, libultrahdr, libavif, libpng via imagecodecs;
PQ/HLG undone with the BT.2100 equations), tone-mapped with the same preview operator
(:func:`hdrlift.io.tonemap_preview`), except the tile of the Ultra HDR file on an SDR display, which is
the base image as decoded. The printed table gives each file's size and its median / 99th-percentile
error in stops against the EXR over pixels >= 0.05 (after the format's own range limit).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import imagecodecs as ic
import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
M1, M2, C1, C2, C3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
HA, HB, HC = 0.17883277, 0.28466892, 0.55991073
TO709 = np.linalg.inv(np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]]))


def pq(e):
    p = np.power(np.clip(e, 0, 1), 1 / M2)
    return 10000 * np.power(np.maximum(p - C1, 0) / (C2 - C3 * p), 1 / M1) / 203


def hlg(e):
    white = (np.exp((0.75 - HC) / HA) + HB) / 12
    return np.where(e <= 0.5, e * e / 3, (np.exp((e - HC) / HA) + HB) / 12) / white


def decode(path: Path, fmt: str, boost: float | None = None) -> np.ndarray:
    data = path.read_bytes()
    if fmt == "exr":
        import OpenEXR

        ch = OpenEXR.File(str(path)).channels()
        return np.asarray(ch["RGB"].pixels, np.float64) if "RGB" in ch else np.stack(
            [np.asarray(ch[c].pixels, np.float64) for c in "RGB"], axis=2)
    if fmt == "uhdr":
        return np.asarray(ic.ultrahdr_decode(data, boost=boost), np.float64)[..., :3]
    if fmt == "png16":
        ratio = float(np.load(path.with_name(path.stem + "_alignratio.npy")))
        return np.asarray(ic.png_decode(data), np.float64) / ratio
    if fmt in ("avif", "avif-hlg"):
        sig = np.asarray(ic.avif_decode(data), np.float64) / 1023
    else:
        sig = np.asarray(ic.png_decode(data), np.float64) / 65535
    return (pq(sig) if fmt in ("avif", "png-pq") else hlg(sig)) @ TO709.T


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="default")
    ap.add_argument("--photo", default="rocket", help="a scikit-image sample (saved as JPEG q90)")
    args = ap.parse_args()
    import skimage.data

    from hdrlift.io import tonemap_preview

    tmp = Path(tempfile.mkdtemp())
    photo = tmp / f"{args.photo}.jpg"
    Image.fromarray(getattr(skimage.data, args.photo)()).save(photo, quality=90)
    outs = {"exr": "r.exr", "uhdr": "r.jpg", "avif": "r.avif", "avif-hlg": "r-hlg.avif", "png-pq": "r-pq.png",
            "png-hlg": "r-hlg.png", "png16": "r16.png"}
    from hdrlift.inference.api import reconstruct
    from hdrlift.inference.outputs import output_paths, provenance, write_outputs
    from hdrlift.io import read_image

    ldr = read_image(photo)
    hdr = reconstruct(ldr, method=args.method)  # one prediction, written in every format (as predict does)
    for fmt, name in outs.items():
        paths = output_paths(photo, str(tmp / name), fmt, 1, preview=False)
        write_outputs(hdr, paths, fmt, overwrite=True, half=False, ldr=ldr,
                      options={"attributes": provenance(args.method, photo), "source": photo})
    ref = decode(tmp / outs["exr"], "exr")
    comp = {}
    for c in ("zip", "piz", "dwaa", "none"):
        from hdrlift.io import write_exr

        write_exr(tmp / f"c_{c}.exr", hdr, compression=c)  # half float, as predict writes by default
        comp[c] = (tmp / f"c_{c}.exr").stat().st_size
    tiles = [("photo (JPEG q90)", np.asarray(Image.open(photo).convert("RGB")))]
    rows = []
    for fmt, name in outs.items():
        path = tmp / name
        for boost in ([1.0, 4.0] if fmt == "uhdr" else [None]):
            img = decode(path, fmt, boost)
            want = np.minimum(ref, 1 / ((np.exp((0.75 - HC) / HA) + HB) / 12)) if "hlg" in fmt else ref
            if boost is not None:
                want = np.minimum(want, boost)
                img = np.minimum(img, boost)
            if boost == 1.0:  # an SDR display shows the SDR rendition: compared with the photo itself
                s = np.asarray(Image.open(photo).convert("RGB"), np.float64) / 255
                want = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)
            lit = want.min(axis=2) >= 0.05
            e = np.abs(np.log2(np.maximum(img[lit], 1e-6) / want[lit]))
            label = fmt + (f" on a {boost:g}x display" if boost else "")
            rows.append((label, path.stat().st_size, float(np.median(e)), float(np.percentile(e, 99))))
            if boost == 1.0:
                base = np.asarray(Image.open(path).convert("RGB"))
                tiles.append(("uhdr on an SDR display (base)", base))
            else:
                tiles.append((label, tonemap_preview(img.astype(np.float32))))
    w = 320
    scaled = [(t, np.asarray(Image.fromarray(a).resize((w, round(a.shape[0] * w / a.shape[1])), Image.LANCZOS)))
              for t, a in tiles]
    th = scaled[0][1].shape[0]
    cols = 3
    sheet = Image.new("RGB", (cols * w, -(-len(scaled) // cols) * (th + 18)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (t, a) in enumerate(scaled):
        x, y = (i % cols) * w, (i // cols) * (th + 18)
        sheet.paste(Image.fromarray(a), (x, y + 18))
        draw.text((x + 4, y + 3), t, fill="black")
    out = HERE / f"formats_{args.photo}.jpg"
    sheet.save(out, quality=88)
    print(f"wrote {out}")
    print("| file | size | median error | 99th percentile |")
    print("|---|---|---|---|")
    for label, size, med, p99 in rows:
        print(f"| {label} | {size / 1024:.0f} KiB | {med:.3f} stop | {p99:.3f} stop |")
    print("EXR half-float sizes: " + ", ".join(f"{c} {v / 1024:.0f} KiB" for c, v in comp.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
