"""check (the preflight): what it reads of the ETL9G files, and the original script alone."""

from __future__ import annotations

import shutil

from kanjinet.check import Report, check_file
from kanjinet.etl import etl9g
from kanjinet.etl import formats as etl_formats


def test_a_bad_code_in_the_middle_of_a_file_fails_naming_the_record(small_etl_dir, tmp_path):
    path = tmp_path / "ETL9G_01"
    shutil.copy(small_etl_dir / "ETL9G_01", path)
    raw = bytearray(path.read_bytes())
    middle = len(raw) // etl9g.RECORD_SIZE // 2
    offset = middle * etl9g.RECORD_SIZE + 2  # that record's JIS code
    raw[offset : offset + 2] = (0x7F7F).to_bytes(2, "big")
    path.write_bytes(bytes(raw))
    shutil.copy(small_etl_dir / etl9g.SYNTH_INFO, tmp_path / etl9g.SYNTH_INFO)
    (source,) = etl_formats.open_sources([tmp_path])
    report = Report()
    assert check_file(report, source.files[0], synthetic=True) == 0
    (line,) = report.lines
    assert line.status == "FAIL"
    assert f"record {middle} has JIS code 0x7F7F" in line.detail


def test_preflight_without_numpy_or_psutil_prints_its_table(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    for name in ("numpy", "psutil"):  # found before site-packages, as if not installed
        (blocked / f"{name}.py").write_text(f'raise ImportError("No module named {name}")\n')
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, str(root / "preflight_check.py"), "--etl-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(blocked), "PATH": "/usr/bin:/bin"},
    )
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert any(line.split()[:2] == ["FAIL", "numpy"] for line in lines), run.stdout
    assert any(line.split()[:2] == ["FAIL", "psutil"] for line in lines)
    assert "preflight FAILED" in run.stdout


def test_the_full_set_size_the_disk_check_uses_is_etl9gs():
    from kanjinet.check import FULL_SET_SAMPLES

    assert FULL_SET_SAMPLES == etl9g.NUM_FILES * etl9g.RECORDS_PER_FILE
