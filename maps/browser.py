"""Headless Chromium over the DevTools protocol, with the network off (no extra dependency).

Used to check and time ``map.html`` the way a planner's browser shows it (tests, benchmarks) and
to take screenshots of maps. Chromium talks the DevTools protocol over two pipes
(``--remote-debugging-pipe``: JSON messages ending in NUL, commands on fd 3, replies on fd 4), so
no websocket client is needed. The browser runs with a fresh profile, no background networking,
every host name unresolvable and the page's network emulated offline: ``file://`` pages load,
nothing else does.

>>> with Chromium() as browser:  # doctest: +SKIP
...     page = browser.open(Path("map.html").resolve().as_uri())
...     page.evaluate("document.title")
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["BrowserError", "Chromium", "Page", "find_chromium"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    """Chromium is missing, died, or a DevTools command failed."""


def find_chromium() -> str | None:
    """The Chromium executable: ``$FIVEPLANS_CHROMIUM``, ``/usr/bin/chromium`` or on ``PATH``."""
    env = os.environ.get("FIVEPLANS_CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """A headless Chromium process driven over the DevTools pipe.

    Parameters
    ----------
    executable
        Path of the browser (default :func:`find_chromium`).
    width, height
        Viewport in CSS pixels.
    timeout
        Seconds to wait for any reply.
    """

    def __init__(
        self,
        executable: str | None = None,
        *,
        width: int = 1280,
        height: int = 860,
        timeout: float = 60.0,
    ) -> None:
        self.executable = executable or find_chromium()
        if not self.executable:
            raise BrowserError(
                "找不到 Chromium — no Chromium found. 解决 Fix: scripts/install-system-deps.sh "
                "chromium (Debian: apt-get install chromium), or set FIVEPLANS_CHROMIUM"
            )
        self.width, self.height, self.timeout = width, height, timeout
        self._next = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: str | None = None

    # -- process ---------------------------------------------------------------------------
    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="fiveplans-chromium-")
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()

        def child() -> None:  # runs in the child: the pipes become fds 3 and 4
            os.dup2(cmd_r, 3)
            os.dup2(out_w, 4)

        args = [
            self.executable,
            *_FLAGS,
            f"--user-data-dir={self._profile}",
            f"--window-size={self.width},{self.height}",
            "about:blank",
        ]
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child,
            close_fds=False,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._w = cmd_w
        self._r = out_r

    def close(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(BrowserError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for fd in (self._w, self._r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._proc = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)

    # -- protocol --------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium 无响应 — no reply from Chromium within the timeout")
            ready, _, _ = select.select([self._r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium 已退出 — Chromium exited")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send a DevTools command and return its result (events are kept for later)."""
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_event(
        self, method: str, *, session: str | None = None, timeout: float | None = None
    ) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, ev in enumerate(self._events):
                if ev.get("method") == method and (
                    session is None or ev.get("sessionId") == session
                ):
                    return self._events.pop(i)
            self._events.append(self._read_message(deadline))

    def open(self, url: str, *, timeout: float | None = None) -> Page:
        """A new tab (network off) showing ``url``, after its load event."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.send(method, session=session)
        self.send(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            session=session,
        )
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session=session, timeout=timeout)
        return page


class Page:
    """One tab: evaluate JavaScript, collect console errors, take screenshots."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def evaluate(self, expression: str, *, timeout: float | None = None) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = self.browser.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=self.session,
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"JavaScript error: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float = 30.0, poll: float = 0.05) -> Any:
        """Poll until the expression is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(poll)
        raise BrowserError(f"timed out waiting for {expression!r}")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads logged so far."""
        out = []
        keep = []
        for ev in self.browser._events:
            if ev.get("sessionId") != self.session:
                keep.append(ev)
                continue
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.exceptionThrown":
                d = params.get("exceptionDetails", {})
                out.append(
                    f"exception: {d.get('exception', {}).get('description') or d.get('text')}"
                )
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(
                    "console: "
                    + " ".join(
                        str(a.get("value", a.get("description"))) for a in params.get("args", [])
                    )
                )
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                e = params["entry"]
                out.append(f"log: {e.get('text')} {e.get('url', '')}".strip())
            else:
                keep.append(ev)
        self.browser._events = keep
        return out

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Save a PNG of the viewport."""
        data = self.browser.send("Page.captureScreenshot", {"format": "png"}, session=self.session)
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(base64.b64decode(data["data"]))
        return dest

    def pdf(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Print the page to PDF (``Page.printToPDF`` options)."""
        data = self.browser.send("Page.printToPDF", options, session=self.session)
        dest = Path(path)
        dest.write_bytes(base64.b64decode(data["data"]))
        return dest


@contextmanager
def chromium(**kwargs: Any) -> Iterator[Chromium]:
    """``with chromium() as browser:`` — a started :class:`Chromium`, closed afterwards."""
    browser = Chromium(**kwargs)
    browser.start()
    try:
        yield browser
    finally:
        browser.close()
