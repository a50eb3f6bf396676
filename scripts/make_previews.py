"""Before/after previews of the default method on real photos (scikit-image's sample photos).

    python scripts/make_previews.py [--method default] [--out docs/images]

For each photo: the input, and the reconstruction's tone-mapped preview shown at -2 stops exposure next to
the input at -2 stops (a darker exposure reveals what the HDR holds above the clipping level: clipped
highlights stay flat grey in the input but keep structure and brightness in the reconstruction).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PHOTOS = ("astronaut", "rocket", "retina", "coffee")


def srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def label(img: np.ndarray, text: str) -> np.ndarray:
    im = Image.fromarray(img)
    ImageDraw.Draw(im).text((6, 4), text, fill=(255, 255, 0))
    return np.asarray(im)


def main() -> None:
    import skimage.data

    import hdrlift
    from hdrlift.checkpoint import default_name
    from hdrlift.io import tonemap_preview

    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="default")
    ap.add_argument("--out", default="docs/images")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = default_name() if args.method == "default" else args.method
    for photo in PHOTOS:
        u8 = getattr(skimage.data, photo)()
        ldr = u8.astype(np.float32) / 255.0
        hdr = hdrlift.reconstruct(ldr, method=args.method)
        lin = np.where(ldr <= 0.04045, ldr / 12.92, ((ldr + 0.055) / 1.055) ** 2.4)
        dark_in = (srgb(lin * 0.25) * 255).round().astype(np.uint8)
        dark_out = (srgb(hdr * 0.25) * 255).round().astype(np.uint8)
        row1 = np.concatenate([label(u8, "input"), label(tonemap_preview(hdr), f"{name}: preview")], axis=1)
        row2 = np.concatenate([label(dark_in, "input, -2 stops"), label(dark_out, "HDR, -2 stops")], axis=1)
        grid = Image.fromarray(np.concatenate([row1, row2], axis=0))
        if grid.width > 1024:
            grid = grid.resize((1024, round(grid.height * 1024 / grid.width)), Image.Resampling.LANCZOS)
        grid.save(out / f"{photo}_before_after.jpg", quality=88)
        clipped = ldr.max(axis=2) >= 250 / 255
        peak = float(hdr[clipped].max()) if clipped.any() else float("nan")
        print(f"{photo}: {clipped.mean() * 100:.2f}% clipped, HDR max in clipped pixels {peak:.2f}")


if __name__ == "__main__":
    main()
