"""The screenshots of every page in projector mode, docs/projector/*.png, at 1920×1080 (a classroom projector).

    python -m bench.screenshots [--out docs/projector] [--chromium /usr/bin/chromium]

Starts the dashboard on a free port over a fresh store (the shipped reference runs only, so the pictures show
what a new install shows), opens each page with ``?projector=true`` in headless chromium (Playwright), waits
until its script is idle, and saves the viewport; ``*_chart.png`` are the first chart of Train and Gradients
scrolled into view. Needs chromium and the playwright package; CIFAR-10 where $RESNET_LAB_DATA points to it.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1920, "height": 1080}
PAGES = {"home": "", "train": "Train", "gradients": "Gradients", "compare": "Compare", "classify": "Classify"}
PAGES |= {"lesion": "Lesion", "landscape": "Landscape", "layers": "Layers"}
CHARTS = {"train_chart": "Train", "gradients_chart": "Gradients"}  # the page's first chart, scrolled into view
RUNNING = '[data-testid="stStatusWidget"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RESNET_LAB_HOME": str(home), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    args = ["--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none"]
    log = open(home / "streamlit.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/Home.py", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return process, url
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"streamlit did not start: {(home / 'streamlit.log').read_text()[-2000:]}")


def settle(tab, quiet_ms: int = 2500, timeout_s: float = 240) -> None:
    """Wait until the page's script has been idle for ``quiet_ms`` (and its charts drawn)."""
    tab.wait_for_selector('[data-testid="stApp"]')
    deadline, quiet_since = time.time() + timeout_s, None
    while time.time() < deadline:
        if tab.locator(RUNNING).count():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif (time.time() - quiet_since) * 1000 >= quiet_ms:
            return
        tab.wait_for_timeout(250)


def shoot(url: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        tab = browser.new_page(viewport=VIEWPORT)
        tab.set_default_timeout(240_000)
        for name, page in {**PAGES, **CHARTS}.items():
            tab.goto(f"{url}/{page}?projector=true")
            settle(tab)
            if name in CHARTS:
                chart = tab.locator('[data-testid="stPlotlyChart"]').first
                chart.scroll_into_view_if_needed()
                tab.wait_for_timeout(1000)
            path = out / f"{name}.png"
            tab.screenshot(path=str(path))
            written.append(path)
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
        browser.close()
    return written


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "projector")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        process, url = start(Path(home))
        try:
            shoot(url, args.out, args.chromium)
        finally:
            process.terminate()
            process.wait(20)


if __name__ == "__main__":
    main()
