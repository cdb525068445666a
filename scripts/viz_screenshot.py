"""Screenshot of what `kedro viz run` shows, to check the pipeline graph by eye.

    python scripts/viz_screenshot.py [OUT.png] [PORT]     (default: build/viz.png, port 4141)

Serves kedro-viz on 127.0.0.1, drives headless Chromium (Debian's `chromium`) over the DevTools
protocol, turns kedro-viz's feature-hint tour off (its own setting, in the page's localStorage)
and drops the upgrade banner, saves the screenshot, and stops every process it started: the
server runs in its own process group, so its worker dies with it. Refuses a port already in use
(a stale server would be photographed instead). Not part of the unit tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
DEVTOOLS_PORT = 9323
HIDE_HINTS = (
    "localStorage.setItem('KedroViz', JSON.stringify(Object.assign("
    "JSON.parse(localStorage.getItem('KedroViz') || '{}'), {showFeatureHints: false})))"
)
DROP_BANNERS = (
    "for (const el of document.querySelectorAll('.feature-hints, .update-reminder-unexpanded'))"
    " el.remove()"
)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _wait(url: str, seconds: float) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


async def _capture(devtools: str, page: str, out: Path) -> None:
    async with websockets.connect(devtools, max_size=1 << 28) as ws:
        counter = 0

        async def call(method: str, **params: object) -> dict:
            nonlocal counter
            counter += 1
            await ws.send(json.dumps({"id": counter, "method": method, "params": params}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == counter:
                    return message.get("result", {})

        await call(
            "Emulation.setDeviceMetricsOverride",
            width=1600,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )
        await call("Page.navigate", url=page)
        await asyncio.sleep(4)
        await call("Runtime.evaluate", expression=HIDE_HINTS)
        await call("Page.reload")
        await asyncio.sleep(10)
        await call("Runtime.evaluate", expression=DROP_BANNERS)
        await asyncio.sleep(1)
        shot = await call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    """Serve, capture, stop."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/viz.png")
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 4141
    chromium = shutil.which("chromium")
    if chromium is None:
        print("needs Debian's chromium: apt-get install chromium", file=sys.stderr)  # noqa: T201
        return 1
    if not _free(port) or not _free(DEVTOOLS_PORT):
        print(f"port {port} or {DEVTOOLS_PORT} is in use: stop what runs there", file=sys.stderr)  # noqa: T201
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    (ROOT / "build").mkdir(exist_ok=True)
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"}
    kedro = Path(sys.executable).parent / "kedro"
    started: list[subprocess.Popen] = []
    profile = tempfile.mkdtemp(prefix="viz-chromium-")
    try:
        with (ROOT / "build/viz-server.log").open("w") as log:
            started.append(
                subprocess.Popen(
                    [
                        str(kedro),
                        "viz",
                        "run",
                        "--no-browser",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        _wait(f"http://127.0.0.1:{port}/api/main", 120)
        started.append(
            subprocess.Popen(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--hide-scrollbars",
                    f"--remote-debugging-port={DEVTOOLS_PORT}",
                    f"--user-data-dir={profile}",
                    "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        _wait(f"http://127.0.0.1:{DEVTOOLS_PORT}/json/version", 30)
        targets = json.loads(_wait(f"http://127.0.0.1:{DEVTOOLS_PORT}/json/list", 10))
        devtools = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        asyncio.run(_capture(devtools, f"http://127.0.0.1:{port}/", out))
    finally:
        for process in reversed(started):
            _stop(process)
        shutil.rmtree(profile, ignore_errors=True)
    print(f"screenshot: {out}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
