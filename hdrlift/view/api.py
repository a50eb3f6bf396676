"""Entry points of :mod:`hdrlift.view`: one result, or a report over a batch folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from hdrlift.errors import HdrliftError
from hdrlift.view.limits import REPORT_MAX_SIDE, VIEW_MAX_SIDE
from hdrlift.view.page import (
    find_photo,
    find_uhdr,
    load_item,
    render_page,
    report_results,
    write_page,
)


def default_page_path(result: str | os.PathLike[str]) -> Path:
    """``out/rocket.exr`` -> ``out/rocket.view.html``."""
    p = Path(result)
    return p.with_name(p.name.split(".")[0] + ".view.html")


def view_page(
    result: str | os.PathLike[str],
    photo: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    *,
    uhdr: str | os.PathLike[str] | None = None,
    max_side: int = VIEW_MAX_SIDE,
    overwrite: bool = False,
) -> Path:
    """Write the viewer page of one result and return its path.

    ``photo``: the LDR photo the result was made from (default: ``<stem>.jpg/.png/...`` beside the result,
    if there is one; without a photo the page has no wipe). ``uhdr``: a gain-map JPEG to show too
    (default: ``<stem>.uhdr.jpg`` beside the result). ``output``: default ``<stem>.view.html`` beside
    the result. ``max_side``: long side of the embedded data (area-averaged; 0 = full size).
    """
    rp = Path(result)
    if photo is None:
        photo = find_photo(rp, [rp.parent])
    if uhdr is None:
        uhdr = find_uhdr(rp)
    out = Path(output) if output is not None else default_page_path(rp)
    item = load_item(rp, photo, uhdr=uhdr, max_side=max_side)
    return write_page(out, render_page([item], f"hdrlift view: {rp.name}"), overwrite=overwrite)


def report_page(
    folder: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    photos: str | os.PathLike[str] | None = None,
    max_side: int = REPORT_MAX_SIDE,
    overwrite: bool = False,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> tuple[Path, int, list[str]]:
    """Write one page over every result in ``folder``; returns (page, results shown, one-line errors).

    Each result's photo is looked up by name in ``photos`` (default: ``folder`` itself). A result that
    cannot be read is reported (``report``, default: stderr) and left out; the others go on.
    """
    d = Path(folder)
    results = report_results(d)
    folders = [Path(photos)] if photos is not None else [d]
    if photos is not None and not Path(photos).is_dir():
        raise HdrliftError(f"{photos}: not a folder (the photos' folder is needed to find each result's photo)")
    out = Path(output) if output is not None else d / "report.html"
    from hdrlift.io.atomic import check_writable

    check_writable(out, overwrite)  # fail before the work, not after it
    items, errors = [], []
    bar = None
    if progress and len(results) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(results), desc="view report", unit="img", file=sys.stderr)

    def say(msg: str) -> None:
        if report is not None:
            report(msg)
        elif bar is not None:
            bar.write(f"hdrlift: error: {msg}", file=sys.stderr)
        else:
            print(f"hdrlift: error: {msg}", file=sys.stderr)

    try:
        for r in results:
            try:
                items.append(load_item(r, find_photo(r, folders), uhdr=find_uhdr(r), max_side=max_side,
                                       thumbs=True))
            except HdrliftError as exc:
                errors.append(str(exc))
                say(str(exc))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if not items:
        raise HdrliftError(f"{d}: none of the {len(results)} results could be read")
    page = write_page(out, render_page(items, f"hdrlift report: {d.name or d}", report=True), overwrite=overwrite)
    return page, len(items), errors
