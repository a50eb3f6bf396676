"""Train/validation split files (one relative path per line, ``#`` comments)."""

from __future__ import annotations

from pathlib import Path

from hdrlift.errors import DataError

HDR_EXTENSIONS = (".exr", ".hdr", ".pic")


def list_hdr_files(root: str | Path, recursive: bool = True) -> list[Path]:
    """All HDR files (.exr/.hdr/.pic) under ``root``, sorted."""
    r = Path(root)
    if not r.is_dir():
        raise DataError(f"{r}: HDR data folder not found")
    it = r.rglob("*") if recursive else r.glob("*")
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in HDR_EXTENSIONS)


def read_split(split_file: str | Path, root: str | Path) -> list[Path]:
    """Files listed in ``split_file`` (paths relative to ``root``); missing files are an error."""
    sf = Path(split_file)
    try:
        lines = sf.read_text().splitlines()
    except OSError as exc:
        raise DataError(f"{sf}: cannot read split file ({exc.strerror})") from None
    out = []
    for ln in lines:
        ln = ln.split("#", 1)[0].strip()
        if not ln:
            continue
        p = Path(root) / ln
        if not p.is_file():
            raise DataError(f"{sf}: listed file {ln} not found under {root}")
        out.append(p)
    if not out:
        raise DataError(f"{sf}: split file lists no files")
    return out
