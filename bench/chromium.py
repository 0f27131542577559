"""Finding a Chromium-family browser to drive headless, for the tests that drive the page
(tests/conftest.py's `browser` fixture) and bench_web.py; kanjinet itself never starts
a browser. Imported as `chromium` from bench/ (tests: `conftest.bench_module`)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

#: Flags for driving the page in a headless Chromium (the end-to-end test, bench_web):
#: no sandbox (containers, root), no GPU, no background traffic to the network.
HEADLESS_CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Chromium-family browsers by platform: names looked up on PATH, then the usual install
#: places (Edge comes with every Windows 10 and 11), relative to these folders.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                 "microsoft-edge", "msedge")  # fmt: skip
BROWSER_PLACES = {
    "win32": [
        (folder, app)
        for folder in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")
        for app in (
            "Google/Chrome/Application/chrome.exe",
            "Chromium/Application/chrome.exe",
            "Microsoft/Edge/Application/msedge.exe",
        )
    ],
    "darwin": [
        ("", f"/Applications/{app}.app/Contents/MacOS/{app}")
        for app in ("Chromium", "Google Chrome", "Microsoft Edge")
    ],
    "linux": [("", "/usr/bin/chromium"), ("", "/snap/bin/chromium")],
}
#: Playwright's own download (`playwright install chromium`): its folder and the browser
#: in it, by platform; $PLAYWRIGHT_BROWSERS_PATH replaces the folder.
PLAYWRIGHT_CHROMIUM = {
    "win32": ("LOCALAPPDATA", "ms-playwright", "chromium-*/chrome-win*/chrome.exe"),
    "darwin": (
        "HOME",
        "Library/Caches/ms-playwright",
        "chromium-*/chrome-mac*/*.app/Contents/MacOS/*",
    ),
    "linux": ("HOME", ".cache/ms-playwright", "chromium-*/chrome-linux*/chrome"),
}


def find_chromium() -> str | None:
    """A Chromium, Chrome or Edge to drive with HEADLESS_CHROMIUM_ARGS (the end-to-end test,
    bench_web): on PATH, then where this platform installs them, then Playwright's own
    download. None if there is none."""
    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    for name in BROWSER_NAMES:
        if found := shutil.which(name):
            return found
    for variable, place in BROWSER_PLACES.get(platform, []):
        base = os.environ.get(variable) if variable else "/"
        if base and Path(base, place).is_file():
            return str(Path(base, place))
    return playwright_chromium(platform)


def playwright_chromium(platform: str) -> str | None:
    """A Chromium that `playwright install` downloaded (the last by name), or None."""
    if platform not in PLAYWRIGHT_CHROMIUM:
        return None
    variable, folder, pattern = PLAYWRIGHT_CHROMIUM[platform]
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if not root and os.environ.get(variable):
        root = Path(os.environ[variable], folder)
    if not root:
        return None
    found = sorted(p for p in Path(root).glob(pattern) if p.is_file())
    return str(found[-1]) if found else None
