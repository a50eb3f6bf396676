"""``hdrlift view``: an offline HTML page to look at HDR results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hdrlift.errors import HdrliftError

EPILOG = """\
examples:
  hdrlift predict examples/rocket.jpg -o out/
  hdrlift view out/rocket.exr examples/rocket.jpg      # writes out/rocket.view.html
  hdrlift view out/rocket.exr examples/rocket.jpg --open
  hdrlift predict photos/ -o out/ && hdrlift view --report out/ --photos photos/   # out/report.html

The page is one self-contained HTML file (no network, no server): an exposure slider on the linear
values, a before/after wipe against the photo (drag on the image), false colour of what is above the
clipping level, and a histogram in stops. Add '#ev=-2' to its address to open it at -2 stops.
"""


def add_parser(sub: Any) -> None:
    from hdrlift.view.limits import REPORT_MAX_SIDE, VIEW_MAX_SIDE

    p = sub.add_parser("view", help="write an offline HTML viewer for an HDR result (exposure, before/after)",
                       description="Write a self-contained HTML page to look at an HDR result: exposure slider on\n"
                       "the real linear values, before/after wipe against the photo, false colour above the\n"
                       "clipping level, histogram in stops.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("result", nargs="?", help="HDR result (.exr/.hdr/float .tif) written by 'hdrlift predict'")
    p.add_argument("photo", nargs="?",
                   help="the photo it was made from, for the before/after wipe (default: the same name with a "
                   "JPEG/PNG extension beside RESULT, if there is one)")
    p.add_argument("-o", "--output", metavar="HTML",
                   help="page to write (default: RESULT's name with .view.html, or DIR/report.html for --report)")
    p.add_argument("--report", metavar="DIR",
                   help="one page over every .exr/.hdr result in DIR (an output folder of 'hdrlift predict'): "
                   "a table of photos, previews and figures; click a row to view it")
    p.add_argument("--photos", metavar="DIR", help="with --report: folder of the input photos (default: DIR)")
    p.add_argument("--uhdr", metavar="JPG",
                   help="also show this Ultra HDR gain-map JPEG (default: RESULT's name with .uhdr.jpg, if present)")
    p.add_argument("--max-side", type=int, default=None, metavar="PX",
                   help=f"long side of the data in the page, area-averaged (default {VIEW_MAX_SIDE}, "
                   f"{REPORT_MAX_SIDE} per photo with --report; 0 = full size)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.add_argument("--overwrite", action="store_true", help="replace an existing page")
    p.set_defaults(func=cmd_view)


def cmd_view(args: argparse.Namespace) -> int:
    from hdrlift.view.api import report_page, view_page
    from hdrlift.view.limits import REPORT_MAX_SIDE, VIEW_MAX_SIDE

    if args.max_side is not None and args.max_side < 0:
        raise HdrliftError(f"--max-side must be 0 or more, got {args.max_side}")
    failed = 0
    if args.report:
        if args.result or args.photo or args.uhdr:
            raise HdrliftError("--report DIR takes no RESULT, PHOTO or --uhdr (it shows every result in DIR)")
        page, n, errors = report_page(args.report, args.output, photos=args.photos,
                                      max_side=REPORT_MAX_SIDE if args.max_side is None else args.max_side,
                                      overwrite=args.overwrite)
        failed = len(errors)
        what = f"{n} results" + (f", {failed} left out" if failed else "")
    else:
        if not args.result:
            raise HdrliftError("give an HDR RESULT (e.g. out/rocket.exr) or --report DIR")
        if args.photos:
            raise HdrliftError("--photos goes with --report; give the photo as the second argument")
        page = view_page(args.result, args.photo, args.output, uhdr=args.uhdr,
                         max_side=VIEW_MAX_SIDE if args.max_side is None else args.max_side,
                         overwrite=args.overwrite)
        what = Path(args.result).name
    size = page.stat().st_size / 1e6
    print(f"wrote {page} ({what}, {size:.1f} MB): open {page.resolve().as_uri()} in a web browser")
    if args.open:
        import webbrowser

        if not webbrowser.open(page.resolve().as_uri()):
            print("hdrlift: no web browser found; open the file above by hand", file=sys.stderr)
    return 1 if failed else 0
