"""Shared, session-scoped test data built by kanjinet's own code: small and fast.

The chain synth -> prepare -> train is built once per test session and reused;
tests that modify data copy it first.
"""

from __future__ import annotations

import os
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


SMALL_CLASSES = 24
SMALL_WRITERS = 10


@pytest.fixture(scope="session")
def small_etl_dir(tmp_path_factory) -> Path:
    """ETL9G-format files from `synth`: 24 classes x 10 writers (240 records)."""
    from kanjinet.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("etl")
    synthesize(
        SynthConfig(out=out, writers=SMALL_WRITERS, classes=SMALL_CLASSES, seed=0, workers=1)
    )
    return out


@pytest.fixture(scope="session")
def small_dataset_dir(small_etl_dir, tmp_path_factory) -> Path:
    """The small synthetic set prepared at 32 x 32 (fast to train on)."""
    from kanjinet.prepare import PrepareConfig, prepare_dataset

    out = tmp_path_factory.mktemp("dataset")
    prepare_dataset(PrepareConfig(etl_dir=small_etl_dir, output_dir=out, size=32, workers=1))
    return out
