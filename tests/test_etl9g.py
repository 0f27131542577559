import struct

import numpy as np
import pytest

from kanjinet.core.classes import CLASS_JIS
from kanjinet.core.errors import FormatError
from kanjinet.etl import etl9g
from kanjinet.preprocess.normalize import ETL9G_LEVEL_SCALE, ink_from_levels

# The struct format public ETL9G readers use; our dtype must agree with it byte for byte.
PUBLIC_READER_FORMAT = ">2H8sI4B4H2B34x8128s7x"


def make_records(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    records = etl9g.empty_records(count)
    for name in etl9g.HEADER_FIELDS:
        if name == "reading":
            records[name] = [f"R{i:07d}".encode() for i in range(count)]
        elif name != "jis":
            info = np.iinfo(records.dtype[name])
            records[name] = rng.integers(0, info.max, count, endpoint=True)
    records["jis"] = rng.choice(CLASS_JIS, count)
    records["image"] = rng.integers(0, 256, (count, etl9g.IMAGE_BYTES), dtype=np.uint8)
    return records


def slow_decode(record_bytes: bytes) -> np.ndarray:
    """Reference decoder: one pixel at a time, high nibble first."""
    image = record_bytes[64 : 64 + etl9g.IMAGE_BYTES]
    pixels = np.zeros((etl9g.IMAGE_HEIGHT, etl9g.IMAGE_WIDTH), dtype=np.uint8)
    for i in range(etl9g.IMAGE_WIDTH * etl9g.IMAGE_HEIGHT):
        byte = image[i // 2]
        pixels[i // etl9g.IMAGE_WIDTH, i % etl9g.IMAGE_WIDTH] = (
            byte >> 4 if i % 2 == 0 else byte & 15
        )
    return pixels


def test_record_layout_is_8199_bytes_and_matches_the_public_struct():
    assert etl9g.RECORD_DTYPE.itemsize == struct.calcsize(PUBLIC_READER_FORMAT) == 8199
    assert etl9g.RECORD_DTYPE.fields["image"][1] == 64
    assert etl9g.FULL_FILE_BYTES == 99_568_656


def test_write_read_round_trip_of_every_field_and_pixel(tmp_path):
    records = make_records(7)
    path = tmp_path / "ETL9G_01"
    etl9g.write_records(path, records)
    assert path.stat().st_size == 7 * 8199
    back = etl9g.read_records(path)
    for name in etl9g.HEADER_FIELDS:
        np.testing.assert_array_equal(back[name], records[name])
    np.testing.assert_array_equal(back["image"], records["image"])
    pixels = etl9g.decode_images(back)
    np.testing.assert_array_equal(etl9g.encode_images(pixels), records["image"])
    # Fields land where the public struct format says they do.
    fields = struct.unpack(PUBLIC_READER_FORMAT, path.read_bytes()[:8199])
    assert fields[0] == records["sheet"][0] and fields[1] == records["jis"][0]
    assert fields[2] == records["reading"][0] and fields[3] == records["serial"][0]
    assert fields[8:12] == tuple(
        int(records[n][0]) for n in ("industry", "occupation", "gathering_date", "scanning_date")
    )
    assert fields[-1] == records["image"][0].tobytes()


def test_vectorised_decode_equals_slow_reference(tmp_path):
    records = make_records(2, seed=1)
    raw = records.tobytes()
    decoded = etl9g.decode_images(records)
    for i in range(2):
        np.testing.assert_array_equal(decoded[i], slow_decode(raw[i * 8199 : (i + 1) * 8199]))


def test_size_not_a_multiple_of_the_record_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "ETL9G_03"
    etl9g.write_records(path, make_records(2))
    with open(path, "ab") as f:
        f.write(b"\0" * 100)
    with pytest.raises(FormatError, match=r"ETL9G_03: size 16,498 bytes is not a multiple"):
        etl9g.read_records(path)
    with pytest.warns(UserWarning, match="dropped 100 trailing bytes"):
        assert len(etl9g.read_records(path, allow_truncated=True)) == 2


def test_unknown_jis_code_names_file_and_record(tmp_path):
    records = make_records(5)
    records["jis"][3] = 0x2421  # small ぁ: not an ETL9G class
    path = tmp_path / "ETL9G_01"
    etl9g.write_records(path, records)
    with pytest.raises(FormatError, match=r"ETL9G_01: record 3 has JIS code 0x2421"):
        etl9g.read_records(path)


def test_foreign_file_is_rejected(tmp_path):
    path = tmp_path / "ETL9G_01"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 8199 * 3, dtype=np.uint8).tobytes())
    with pytest.raises(FormatError, match="not an ETL9G file"):
        etl9g.read_records(path)


def test_missing_and_empty_directories(tmp_path):
    with pytest.raises(FormatError, match="no such directory"):
        etl9g.list_files(tmp_path / "nowhere")
    with pytest.raises(FormatError, match="no ETL9G_NN files"):
        etl9g.list_files(tmp_path)
    (tmp_path / "ETL9G_02").write_bytes(b"")
    (tmp_path / "ETL9G_10").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in etl9g.list_files(tmp_path)] == ["ETL9G_02", "ETL9G_10"]
    with pytest.raises(FormatError, match="empty file"):
        etl9g.read_records(tmp_path / "ETL9G_02")


def test_writer_groups_follow_data_sets_not_sheets():
    index = np.array([0, 3035, 3036, 12143])
    np.testing.assert_array_equal(etl9g.writer_groups(1, index), [0, 0, 1, 3])
    np.testing.assert_array_equal(etl9g.writer_groups(2, np.array([0])), [4])
    np.testing.assert_array_equal(etl9g.writer_groups(50, np.array([12143])), [199])
    # A synthetic set of 100 classes: writer sets straddle the 12,144-record files.
    np.testing.assert_array_equal(etl9g.writer_groups(2, np.array([0]), set_size=100), [121])


def test_synthetic_set_description_is_read_and_validated(tmp_path):
    assert etl9g.read_synth_info(tmp_path) is None  # the real ETL9G has none
    info = tmp_path / etl9g.SYNTH_INFO
    info.write_text('{"synthetic": true, "set_size": 24}', encoding="utf-8")
    assert etl9g.read_synth_info(tmp_path)["set_size"] == 24
    info.write_text('{"set_size": 5000}', encoding="utf-8")
    with pytest.raises(FormatError, match=r"kanjinet-synth.json: set_size 5000 is not 1..3036"):
        etl9g.read_synth_info(tmp_path)
    info.write_text("{not json", encoding="utf-8")
    with pytest.raises(FormatError, match=r"kanjinet-synth.json: unreadable synthetic-set"):
        etl9g.read_synth_info(tmp_path)


def etl8g_layout(records: np.ndarray) -> bytes:
    """The same records in ETL8G's G-type layout: header as ETL9G's, image at byte 60."""
    raw = np.frombuffer(records.tobytes(), dtype=np.uint8).reshape(len(records), 8199)
    out = np.zeros_like(raw)
    out[:, :30] = raw[:, :30]
    out[:, 60 : 60 + etl9g.IMAGE_BYTES] = raw[:, 64 : 64 + etl9g.IMAGE_BYTES]
    return out.tobytes()


def test_an_etl8g_layout_file_named_etl9g_is_refused(tmp_path):
    records = make_records(5)  # scanned pictures: ink and noise reach the first row
    path = tmp_path / "ETL9G_01"
    path.write_bytes(etl8g_layout(records))
    with pytest.raises(FormatError, match=r"ETL9G_01: bytes 60..63 hold data .* ETL8G"):
        etl9g.read_records(path)
    etl9g.write_records(path, records)  # the same records in the ETL9G layout are fine
    assert len(etl9g.read_records(path)) == 5


def test_two_names_for_one_file_number_are_refused_naming_both(tmp_path):
    (tmp_path / "ETL9G_01").write_bytes(b"")
    (tmp_path / "etl9g_01").write_bytes(b"")
    with pytest.raises(FormatError, match=r"ETL9G_01 and etl9g_01: two names for file 01"):
        etl9g.list_files(tmp_path)


def test_file_numbers_outside_the_database_are_refused(tmp_path):
    for name in ("ETL9G_00", "ETL9G_01", "ETL9G_51"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(FormatError) as error:
        etl9g.list_files(tmp_path)
    assert "ETL9G_00: file number 00 is not 01..50" in str(error.value)
    assert "ETL9G_51: file number 51 is not 01..50" in str(error.value)
    (tmp_path / "ETL9G_00").unlink()
    (tmp_path / etl9g.SYNTH_INFO).write_text('{"set_size": 24}', encoding="utf-8")
    assert [p.name for p in etl9g.list_files(tmp_path)] == ["ETL9G_01", "ETL9G_51"]


def test_links_and_directories_named_like_files_are_named(tmp_path):
    (tmp_path / "ETL9G_01").write_bytes(b"")
    (tmp_path / "ETL9G_02").mkdir()
    (tmp_path / "ETL9G_03").symlink_to(tmp_path / "gone")
    (tmp_path / "ETL9G_04").symlink_to(tmp_path / "ETL9G_04")
    with pytest.raises(FormatError) as error:
        etl9g.list_files(tmp_path)
    message = str(error.value)
    assert "ETL9G_02: a directory, not an ETL9G file" in message
    assert "ETL9G_03: a dangling link" in message
    assert "ETL9G_04: a symbolic link loop" in message
    assert "ETL9G_01" not in message


# --- the fast decode (was tests/test_prepfast.py)


def records_of(levels: np.ndarray) -> np.ndarray:
    """Records holding these (N, 127, 128) pixel levels (headers left zero)."""
    records = np.zeros(len(levels), dtype=etl9g.RECORD_DTYPE)
    records["image"] = etl9g.encode_images(levels)
    return records


def test_decode_images_splits_nibbles_and_scales_in_one_pass():
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 16, (3, etl9g.IMAGE_HEIGHT, etl9g.IMAGE_WIDTH), dtype=np.uint8)
    records = records_of(levels)
    decoded = etl9g.decode_images(records)
    assert decoded.dtype == np.uint8 and decoded.shape == levels.shape
    np.testing.assert_array_equal(decoded, levels)
    ink = etl9g.decode_images(records, ETL9G_LEVEL_SCALE)
    np.testing.assert_array_equal(ink, ink_from_levels(levels))
    assert etl9g.decode_images(records[:0]).shape == (0, etl9g.IMAGE_HEIGHT, etl9g.IMAGE_WIDTH)
    with pytest.raises(ValueError):
        etl9g.decode_images(records, 18)  # 15 * 18 does not fit in a byte
