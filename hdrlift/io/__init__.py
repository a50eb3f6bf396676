"""Image files for hdrlift (numpy only; this package never imports torch).

Reading returns float32 HWC arrays: LDR files sRGB-encoded in [0,1], HDR files linear >= 0, both
colour-managed to sRGB / Rec.709 primaries (ICC, EXIF colour space, EXR chromaticities; see colour.py).
Display encodings (Ultra HDR gain map, PQ/HLG AVIF and PNG) are in gainmap.py and display.py.
Every write is atomic and refuses to replace an existing file unless ``overwrite=True``.
Every failure is an ImageReadError / ImageWriteError / ImageSizeError whose one-line message
starts with the file path.
"""

from __future__ import annotations

from ._common import ImageInfo, apply_orientation, check_size
from .api import is_hdr_path, read_image, read_image_info, write_image
from .atomic import atomic_output
from .colour import pq_decode, pq_encode
from .display import write_avif, write_avif_pq, write_png_hdr, write_uhdr
from .exr import read_exr, write_exr
from .ntire import alignratio_path, read_ntire, write_ntire
from .png16 import write_png16
from .preview import srgb_encode, tonemap_preview, write_preview
from .rgbe import read_rgbe, write_rgbe

__all__ = [
    "ImageInfo",
    "alignratio_path",
    "apply_orientation",
    "atomic_output",
    "check_size",
    "is_hdr_path",
    "pq_decode",
    "pq_encode",
    "read_exr",
    "read_image",
    "read_image_info",
    "read_ntire",
    "read_rgbe",
    "srgb_encode",
    "tonemap_preview",
    "write_avif",
    "write_avif_pq",
    "write_exr",
    "write_image",
    "write_ntire",
    "write_png16",
    "write_png_hdr",
    "write_preview",
    "write_rgbe",
    "write_uhdr",
]
