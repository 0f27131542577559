"""Shared, session-scoped test data built by kanjinet's own code: small and fast.

The chain synth -> prepare -> train is built once per test session and reused;
tests that modify data copy it first.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Two cores: keep torch from oversubscribing when pytest runs beside other work.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session", autouse=True)
def user_cache_dir(tmp_path_factory):
    """kanjinet's user cache (the font scan) in a temporary folder, not the user's home;
    commands run in subprocesses inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KANJINET_CACHE_DIR", str(tmp_path_factory.mktemp("user-cache")))
        yield


BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_module(name: str):
    """A script of bench/ imported as a module, with bench/ on sys.path while it loads:
    the scripts import each other and benchlib from their own folder."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


SMALL_CLASSES = 24
SMALL_WRITERS = 10


@pytest.fixture(scope="session")
def small_etl_dir(tmp_path_factory) -> Path:
    """ETL9G-format files from `synth`: 24 classes x 10 writers (240 records)."""
    from kanjinet.synthesis.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("etl")
    synthesize(
        SynthConfig(out=out, writers=SMALL_WRITERS, classes=SMALL_CLASSES, seed=0, workers=1)
    )
    return out


@pytest.fixture(scope="session")
def small_dataset_dir(small_etl_dir, tmp_path_factory) -> Path:
    """The small synthetic set prepared at 32 x 32 (fast to train on)."""
    from kanjinet.data.prepare import PrepareConfig, prepare_dataset

    out = tmp_path_factory.mktemp("dataset")
    prepare_dataset(PrepareConfig(etl_dir=small_etl_dir, output_dir=out, size=32, workers=1))
    return out


# --------------------------------------------------------------------------- training


def train_settings_for(data_dir: Path, out: Path, **changes):
    """The tests' TrainConfig: the cheapest preset for two epochs on the CPU, 24 classes
    (the small synthetic set's), batch 32; `changes` override any field."""
    from kanjinet.training.train import TrainConfig

    values = dict(
        data_dir=data_dir,
        output_dir=out,
        arch="original",  # the cheapest preset: most tests are about the loop, not the model
        class_limit=SMALL_CLASSES,
        epochs=2,
        batch_size=32,
        device="cpu",
        seed=3,
    )
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="session")
def train_settings():
    """`train_settings(data_dir, out, **changes) -> TrainConfig` (see train_settings_for):
    the one place the tests' training settings are written."""
    return train_settings_for


@pytest.fixture(scope="session")
def trained_checkpoint(train_settings):
    """`trained_checkpoint(data_dir, out, **changes) -> Path`: a real `kanjinet train` run
    with those settings; the path of its best checkpoint."""

    def run(data_dir: Path, out: Path, **changes) -> Path:
        from kanjinet.training.train import BEST_NAME, train

        train(train_settings(data_dir, out, **changes))
        return Path(out) / BEST_NAME

    return run


@pytest.fixture(scope="session")
def fitted_small_model(trained_checkpoint):
    """`fitted_small_model(data_dir, out, epochs) -> Path`: kanjinet-small trained without
    augmentation or label smoothing at a high learning rate, so that in a few seconds it
    is sure of most answers (what export's int8 agreement check needs)."""

    def run(data_dir: Path, out: Path, epochs: int) -> Path:
        return trained_checkpoint(
            data_dir,
            out,
            arch="kanjinet-small",
            epochs=epochs,
            learning_rate=3e-3,
            augment="none",
            label_smoothing=0.0,
            patience=100,
            seed=0,
        )

    return run


@pytest.fixture(scope="session")
def trained_run(small_dataset_dir, tmp_path_factory, train_settings):
    """One training run on the small set with the default test settings, shared by the
    tests that only read its outputs: (best checkpoint path, train's summary)."""
    from kanjinet.training.train import BEST_NAME, train

    out = tmp_path_factory.mktemp("trained")
    result = train(train_settings(small_dataset_dir, out))
    return out / BEST_NAME, result


@pytest.fixture(scope="session")
def free_port():
    """`free_port() -> int`: a TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    def find() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return find


# --------------------------------------------------------------------------- browser

# Set (to anything but "0"), the browser tests skip as on a machine without a browser:
# .ci/run checks that they do, since CI itself installs Chromium.
HIDE_BROWSER = "KANJINET_NO_BROWSER"


def browser_missing() -> str | None:
    """Why the tests that drive a browser cannot run here, or None when they can."""
    if os.environ.get(HIDE_BROWSER, "0") != "0":
        return f"{HIDE_BROWSER} is set: the browser is hidden"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install playwright)"
    if bench_module("chromium").find_chromium() is None:
        return "no Chromium, Chrome or Edge found (apt-get install chromium)"
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real browser (the `browser` fixture)")


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(config, items):
    """Every test that uses the `browser` fixture, in any file, is marked `browser`, and
    skips with the reason where there is no browser, before its other fixtures are built
    (some train a model)."""
    users = [item for item in items if "browser" in getattr(item, "fixturenames", ())]
    reason = browser_missing() if users else None
    for item in users:
        item.add_marker(pytest.mark.browser)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@contextlib.contextmanager
def launched_browser():
    """Headless Chromium (bench/chromium.py's `find_chromium`) driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    chromium = bench_module("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium.find_chromium(), args=list(chromium.HEADLESS_CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser():
    """A headless browser for the module's tests; they skip, with the reason, without one."""
    reason = browser_missing()
    if reason:  # also marked at collection: this covers a fixture requested dynamically
        pytest.skip(reason)
    with launched_browser() as launched:
        yield launched


# --------------------------------------------------------------------------- Windows


@pytest.fixture
def windows_newlines(monkeypatch):
    """Text files opened for writing without newline= get "\\r\\n" line ends, as on Windows."""
    import builtins
    import io

    def opener(real):
        def open_like_windows(file, mode="r", buffering=-1, encoding=None, errors=None,
                              newline=None, *args, **kwargs):  # fmt: skip
            if newline is None and "b" not in mode and set(mode) & set("wax+"):
                newline = "\r\n"
            return real(file, mode, buffering, encoding, errors, newline, *args, **kwargs)

        return open_like_windows

    monkeypatch.setattr(builtins, "open", opener(builtins.open))
    monkeypatch.setattr(io, "open", opener(io.open))


@pytest.fixture
def node_test():
    """Runs one of tests/js/*.test.mjs in node's test runner (the JS twins' checks):
    `node_test(name, env=None, timeout=120) -> CompletedProcess`; skips without node."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (needed for the JS side)")
    root = Path(__file__).resolve().parent.parent

    def run(name: str, env: dict[str, str] | None = None, timeout: int = 120):
        return subprocess.run(
            [node, "--test", str(root / "tests" / "js" / name)],
            env={**os.environ, **(env or {})},
            capture_output=True,
            encoding="utf-8",
            timeout=timeout,
            cwd=root,
        )

    return run
