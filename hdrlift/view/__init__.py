"""``hdrlift view``: an offline HTML page to look at an HDR result.

:func:`view_page` writes one self-contained page (script, style and the linear data inside; no network)
with an exposure slider on the real linear values, a before/after wipe against the photo, false colour
of what is above the clipping level and a histogram in stops. :func:`report_page` writes one page for
a batch. :mod:`hdrlift.view.browser` drives headless Chromium (tests, screenshots).

Importing this package is light; numpy is imported on first use of the functions.
"""

from __future__ import annotations

from typing import Any

from hdrlift.view.limits import REPORT_MAX_SIDE, VIEW_MAX_SIDE

__all__ = ["REPORT_MAX_SIDE", "VIEW_MAX_SIDE", "ViewItem", "image_figures", "load_item", "render_page",
           "report_page", "view_page"]

_LAZY = {"report_page": "api", "view_page": "api", "ViewItem": "page", "image_figures": "page",
         "load_item": "page", "render_page": "page"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"hdrlift.view.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'hdrlift.view' has no attribute {name!r}")
