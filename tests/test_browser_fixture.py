"""conftest.py's `browser` fixture: any test file that asks for it skips, with the reason,
where there is no browser (issue #31: one that borrowed it from another file errored)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import conftest

BORROWER = """
def test_uses_the_browser(browser):
    raise AssertionError("ran without a browser")


def test_needs_no_browser():
    pass
"""


def run_pytest(folder: Path, **env: str) -> subprocess.CompletedProcess:
    """pytest on `folder` (this conftest.py and a file using `browser`) in a subprocess."""
    shutil.copy(conftest.__file__, folder / "conftest.py")
    (folder / "test_borrower.py").write_text(BORROWER, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", str(folder), "-rs", "-p", "no:cacheprovider"]
    return subprocess.run(
        command, cwd=folder, capture_output=True, text=True, env={**os.environ, **env}
    )


def test_a_file_using_the_browser_fixture_skips_when_the_browser_is_hidden(tmp_path):
    done = run_pytest(tmp_path, KANJINET_NO_BROWSER="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout, done.stdout
    assert "KANJINET_NO_BROWSER is set: the browser is hidden" in done.stdout


def test_without_chromium_the_reason_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv("KANJINET_NO_BROWSER", raising=False)
    monkeypatch.setattr(conftest.bench_module("chromium"), "find_chromium", lambda: None)
    reason = conftest.browser_missing()
    assert reason is not None
    assert "apt-get install chromium" in reason or "pip install playwright" in reason


def test_hiding_the_browser_names_the_variable(monkeypatch):
    monkeypatch.setenv("KANJINET_NO_BROWSER", "1")
    assert conftest.browser_missing() == "KANJINET_NO_BROWSER is set: the browser is hidden"
    monkeypatch.setenv("KANJINET_NO_BROWSER", "0")
    assert conftest.browser_missing() != "KANJINET_NO_BROWSER is set: the browser is hidden"
