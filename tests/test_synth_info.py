"""kanjinet-synth.json checked against the files it describes: a wrong set size, a missing
or unreadable description and numbers JSON allows but Python cannot use are refused by
`prepare` (one line) and failed by `check`, never a wrong writer split and never a
synthetic set passed off as the real ETL9G."""

from __future__ import annotations

import json
import shutil

import pytest

from kanjinet import check
from kanjinet.cli import main
from kanjinet.etl import etl9g

SYNTH_JSON = etl9g.SYNTH_INFO


@pytest.fixture
def etl_copy(small_etl_dir, tmp_path):
    """A copy of the small synthetic set (24 classes x 10 writers) to spoil."""
    out = tmp_path / "etl"
    shutil.copytree(small_etl_dir, out)
    return out


def set_info(etl_dir, text):
    (etl_dir / SYNTH_JSON).write_text(text, encoding="utf-8")


def with_set_size(etl_dir, value):
    info = json.loads((etl_dir / SYNTH_JSON).read_text(encoding="utf-8"))
    return json.dumps({**info, "set_size": "PLACEHOLDER"}).replace('"PLACEHOLDER"', value)


def spoil(etl_dir, how):
    if how == "missing":
        (etl_dir / SYNTH_JSON).unlink()
    elif how == "directory":
        (etl_dir / SYNTH_JSON).unlink()
        (etl_dir / SYNTH_JSON).mkdir()
    else:
        set_info(etl_dir, with_set_size(etl_dir, how))


CASES = {
    "7": "set_size 7, which the files contradict",
    "1e400": "set_size inf is not a whole number",
    "24.5": "set_size 24.5 is not a whole number",
    "missing": f"a synthetic set that lost its {SYNTH_JSON}",
    "directory": "not a readable file",
}


@pytest.mark.parametrize("how", list(CASES))
def test_prepare_refuses_in_one_line(etl_copy, tmp_path, capsys, how):
    spoil(etl_copy, how)
    out = tmp_path / "ds"
    assert main(["prepare", "--etl-dir", str(etl_copy), "--output-dir", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and CASES[how] in errors[0] and str(etl_copy) in errors[0]
    assert not list(out.glob("*.npz"))


@pytest.mark.parametrize("how", list(CASES))
def test_check_fails(etl_copy, how):
    spoil(etl_copy, how)
    report = check.Report()
    check.check_etl_dir(report, etl_copy)
    failed = [line.detail for line in report.lines if line.status == "FAIL"]
    assert any(CASES[how] in detail for detail in failed), failed


def test_the_true_description_passes(etl_copy):
    report = check.Report()
    check.check_etl_dir(report, etl_copy)
    assert not report.failed
