"""check (the preflight): what it reads of the ETL9G files, and the original script alone."""

from __future__ import annotations

import shutil

from kanjinet import etl9g
from kanjinet.check import Report, check_file


def test_a_bad_code_in_the_middle_of_a_file_fails_naming_the_record(small_etl_dir, tmp_path):
    path = tmp_path / "ETL9G_01"
    shutil.copy(small_etl_dir / "ETL9G_01", path)
    raw = bytearray(path.read_bytes())
    middle = len(raw) // etl9g.RECORD_SIZE // 2
    offset = middle * etl9g.RECORD_SIZE + 2  # that record's JIS code
    raw[offset : offset + 2] = (0x7F7F).to_bytes(2, "big")
    path.write_bytes(bytes(raw))
    report = Report()
    assert check_file(report, path, synthetic=True) == 0
    (line,) = report.lines
    assert line.status == "FAIL"
    assert f"record {middle} has JIS code 0x7F7F" in line.detail
