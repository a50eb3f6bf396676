"""Drive headless Chromium over the DevTools protocol (``--remote-debugging-pipe``, stdlib only).

Used by the viewer's browser test and to make the documentation's screenshots::

    with Chromium() as b:
        b.open(Path("out/rocket.view.html"))
        b.wait_ready()
        png = b.screenshot()

Chromium runs with a fresh profile in a temporary folder and every network service off
(``--disable-background-networking --disable-component-update --disable-sync``); the page it opens is a
local file, so nothing is fetched. :func:`find_chromium` returns None where no Chromium is installed.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hdrlift.errors import HdrliftError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
    "--force-device-scale-factor=1",
)


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable (``HDRLIFT_CHROMIUM`` first), or None."""
    env = os.environ.get("HDRLIFT_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for n in NAMES:
        p = shutil.which(n)
        if p:
            return p
    return None


class BrowserError(HdrliftError):
    """Chromium could not be started or did not answer."""


class Chromium:
    """One headless Chromium with one page, driven over a DevTools pipe.

    ``width``/``height``: the viewport in CSS pixels (device scale factor 1, so screenshot pixels are CSS
    pixels). ``timeout``: seconds to wait for any answer.
    """

    def __init__(self, executable: str | None = None, *, width: int = 1280, height: int = 900,
                 timeout: float = 30.0) -> None:
        exe = executable or find_chromium()
        if not exe:
            raise BrowserError("no Chromium found (install the 'chromium' package or set HDRLIFT_CHROMIUM)")
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="hdrlift-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds() -> None:  # in the child: the pipe ends become fds 3 (commands in) and 4 (answers out)
            import fcntl

            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3, inheritable=True)
            os.dup2(b, 4, inheritable=True)

        args = [exe, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe",
                f"--window-size={width},{height}", "about:blank"]
        self._log = open(os.path.join(self._profile.name, "chromium.log"), "wb")  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=self._log, preexec_fn=fds, close_fds=False)
        except OSError as exc:
            os.close(to_child_r)
            os.close(from_child_w)
            self._close_pipes()
            self._log.close()
            self._profile.cleanup()
            raise BrowserError(f"{exe}: cannot start ({exc.strerror or exc})") from None
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next = 0
        self._events: list[dict[str, Any]] = []
        self.session: str | None = None
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                      mobile=False)
        except Exception:
            self.close()
            raise

    # protocol
    def _send(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._to_child, data)
            data = data[n:]

    def _recv(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                err = Path(self._log.name).read_text(errors="replace").strip().splitlines()
                raise BrowserError(f"Chromium exited ({err[-1] if err else 'no message'})")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command (to the page once attached) and return its result."""
        self._next += 1
        mid = self._next
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        self._send(msg)
        deadline = time.monotonic() + self.timeout
        while True:
            ans = self._recv(deadline)
            if ans.get("id") == mid:
                if "error" in ans:
                    raise BrowserError(f"{method}: {ans['error'].get('message', ans['error'])}")
                return ans.get("result", {})
            self._events.append(ans)
            del self._events[:-200]

    # page helpers
    def open(self, path: str | os.PathLike[str], fragment: str = "") -> None:
        """Load a local file (``fragment``: the part after ``#``)."""
        url = Path(path).resolve().as_uri() + (f"#{fragment}" if fragment else "")
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """Value of a JavaScript expression in the page (promises are awaited)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError(f"page script error: {d.get('exception', {}).get('description') or d.get('text')}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                v = self.evaluate(expression)
            except BrowserError:
                v = None  # the page is navigating
            if v:
                return v
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression}")
            time.sleep(0.05)

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the viewer has drawn its first frame (``data-hdrlift-ready``)."""
        v = self.wait_for("document.documentElement && document.documentElement.dataset.hdrliftReady", timeout)
        if v != "1":
            raise BrowserError("the viewer page reported an error while loading its data")

    def rect(self, selector: str) -> dict[str, float]:
        """Bounding box (CSS pixels, viewport coordinates) of the first element matching ``selector``."""
        r = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
                          " const b = e.getBoundingClientRect();"
                          " return {x: b.left, y: b.top, width: b.width, height: b.height}; })()")
        if not r:
            raise BrowserError(f"no element {selector} in the page")
        return r

    def mouse(self, kind: str, x: float, y: float) -> None:
        """``kind``: mousePressed | mouseMoved | mouseReleased (left button)."""
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                  buttons=0 if kind == "mouseReleased" else 1, clickCount=1)

    def drag(self, x0: float, y0: float, x1: float, y1: float, steps: int = 8) -> None:
        """Press at (x0, y0), move in ``steps`` to (x1, y1), release."""
        self.mouse("mousePressed", x0, y0)
        for i in range(1, steps + 1):
            self.mouse("mouseMoved", x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
        self.mouse("mouseReleased", x1, y1)

    def key(self, key: str, code: int) -> None:
        """Press and release a key (``key`` as in KeyboardEvent.key, ``code`` the Windows virtual key code)."""
        for kind in ("rawKeyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code)

    def screenshot(self, clip: dict[str, float] | None = None) -> bytes:
        """PNG of the viewport, or of ``clip`` ({x, y, width, height} in CSS pixels)."""
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        return base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])

    def close(self) -> None:
        """Stop Chromium and remove its profile."""
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            try:
                self._send({"id": self._next + 1, "method": "Browser.close", "params": {}})
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        self._log.close()
        self._close_pipes()
        self._profile.cleanup()

    def _close_pipes(self) -> None:
        for name in ("_to_child", "_from_child"):
            fd = getattr(self, name, None)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, None)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m hdrlift.view.browser PAGE OUT.png [--fragment ev=-2] [--width W --height H]``.

    A screenshot of a viewer page in headless Chromium (how docs/images/viewer_*.png are made).
    """
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hdrlift.view.browser", description=main.__doc__)
    ap.add_argument("page", help="an HTML page written by 'hdrlift view'")
    ap.add_argument("output", help="PNG to write")
    ap.add_argument("--fragment", default="", help="viewer state, e.g. 'ev=-2&wipe=0.5&fc=1'")
    ap.add_argument("--width", type=int, default=1000, help="viewport width in CSS pixels (default 1000)")
    ap.add_argument("--height", type=int, default=800, help="viewport height in CSS pixels (default 800)")
    ap.add_argument("--colours", type=int, default=0,
                    help="reduce the PNG to this many colours (0 = keep every colour; smaller files for docs)")
    a = ap.parse_args(argv)
    try:
        with Chromium(width=a.width, height=a.height) as b:
            b.open(a.page, a.fragment)
            b.wait_ready()
            png = b.screenshot()
    except HdrliftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("RGB")
    if a.colours:
        im = im.quantize(a.colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    png = buf.getvalue()
    Path(a.output).write_bytes(png)
    print(f"wrote {a.output} ({len(png) / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
