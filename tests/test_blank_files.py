"""An ETL file whose images are all blank: prepare and inspect warn naming it (and only
it), check FAILs it."""

from __future__ import annotations

import shutil

import pytest

from kanjinet import check
from kanjinet.data.prepare import PrepareConfig, prepare_dataset
from kanjinet.etl import etl9g
from kanjinet.etl import formats as etl_formats
from kanjinet.inspect import InspectConfig, inspect_dataset

IMAGE_START = 64  # the image's byte offset in a record (etl9g's layout)


@pytest.fixture(scope="module")
def half_blank_etl_dir(small_etl_dir, tmp_path_factory):
    """The small synthetic set over two files (5 writers each), ETL9G_02's images blank."""
    out = tmp_path_factory.mktemp("blank")
    raw = (small_etl_dir / "ETL9G_01").read_bytes()
    half = len(raw) // etl9g.RECORD_SIZE // 2 * etl9g.RECORD_SIZE
    (out / "ETL9G_01").write_bytes(raw[:half])
    second = bytearray(raw[half:])
    for start in range(0, len(second), etl9g.RECORD_SIZE):
        second[start + IMAGE_START : start + IMAGE_START + etl9g.IMAGE_BYTES] = bytes(
            etl9g.IMAGE_BYTES
        )
    (out / "ETL9G_02").write_bytes(bytes(second))
    shutil.copy(small_etl_dir / etl9g.SYNTH_INFO, out / etl9g.SYNTH_INFO)
    return out


@pytest.fixture(scope="module")
def prepared(half_blank_etl_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    config = PrepareConfig(etl_dir=half_blank_etl_dir, output_dir=out, size=32, workers=1)
    with pytest.warns(UserWarning) as caught:
        prepare_dataset(config)
    return out, [str(w.message) for w in caught]


def test_prepare_warns_of_the_blank_file_only(prepared, half_blank_etl_dir):
    _, messages = prepared
    blank = [m for m in messages if "blank" in m]
    assert len(blank) == 1 and blank[0].startswith(str(half_blank_etl_dir / "ETL9G_02"))


def test_inspect_warns_of_the_blank_chunk_only(prepared, tmp_path):
    out, _ = prepared
    with pytest.warns(UserWarning, match="blank") as caught:
        report, problems = inspect_dataset(InspectConfig(data_dir=out, out=tmp_path))
    blank = [str(w.message) for w in caught if "blank" in str(w.message)]
    assert len(blank) == 1 and "chunk_002" in blank[0] and not problems


def test_check_fails_the_blank_file_only(half_blank_etl_dir):
    report = check.Report()
    check.check_etl_dir(report, half_blank_etl_dir)
    failed = [(line.what, line.detail) for line in report.lines if line.status == "FAIL"]
    assert [what for what, _ in failed] == ["ETL9G_02"] and "blank" in failed[0][1]
    assert report.failed


def test_a_file_with_strokes_is_not_blank(small_etl_dir):
    (source,) = etl_formats.open_sources([small_etl_dir])
    assert etl_formats.blank_file_problem(source.files[0]) is None
