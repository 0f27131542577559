import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from kanjinet.core.classes import NUM_CLASSES, class_of_char
from kanjinet.core.errors import KanjinetError
from kanjinet.data import dataset as ds


def fake_chunk(file_no: int, count: int, size: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + file_no)
    return {
        "images": rng.integers(0, 256, (count, size, size), dtype=np.uint8),
        "labels": (np.arange(count) % 5).astype(np.int16),
        "writers": ((file_no - 1) * 4 + np.arange(count) // 5).astype(np.int32),
        "sheets": np.full(count, file_no, dtype=np.uint16),
        "files": np.full(count, file_no, dtype=np.uint8),
        "records": np.arange(count, dtype=np.int32),
    }


@pytest.fixture
def prepared(tmp_path):
    chunks = {1: fake_chunk(1, 20), 2: fake_chunk(2, 15)}
    entries = [ds.save_chunk(tmp_path, n, arrays) for n, arrays in chunks.items()]
    ds.write_metadata(tmp_path, entries, {"size": 16})
    return tmp_path, chunks


def test_round_trip_concatenates_chunks_in_order(prepared):
    directory, chunks = prepared
    data = ds.load_prepared(directory)
    assert len(data) == 35 and data.size == 16
    for name, dtype in ds.ARRAY_DTYPES.items():
        array = getattr(data, name)
        assert array.dtype == dtype
        np.testing.assert_array_equal(array, np.concatenate([chunks[1][name], chunks[2][name]]))
    meta = data.metadata
    assert meta["samples"] == 35 and meta["classes"] == 5 and meta["writers"] == 7
    assert meta["samples_per_class"] == {"min": 7, "median": 7.0, "max": 7}
    assert [c["chunk"] for c in meta["chunks"]] == [ds.chunk_name(1), ds.chunk_name(2)]
    assert not list(directory.glob("*.tmp"))


def test_character_mapping_gives_jis_unicode_and_char(prepared):
    directory, _ = prepared
    mapping = json.loads((directory / ds.MAPPING).read_text(encoding="utf-8"))
    assert len(mapping) == NUM_CLASSES
    ta = class_of_char("田")
    assert mapping[str(ta.index)] == {"jis": "4544", "unicode": "7530", "char": "田"}


def test_corrupt_chunk_is_detected(prepared):
    directory, _ = prepared
    path = directory / ds.chunk_name(2)
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert ds.verify_checksums(directory) == [
        f"{path}: checksum mismatch (corrupt or changed since prepare)"
    ]
    with pytest.raises(KanjinetError, match="checksum mismatch"):
        ds.load_prepared(directory)
    assert len(ds.load_prepared(directory, verify=False)) == 35


def test_missing_chunk_and_missing_metadata_are_errors(prepared, tmp_path_factory):
    directory, _ = prepared
    (directory / ds.chunk_name(1)).unlink()
    with pytest.raises(KanjinetError, match="missing chunk"):
        ds.load_prepared(directory)
    with pytest.raises(KanjinetError, match="metadata.json: missing"):
        ds.load_prepared(tmp_path_factory.mktemp("empty"))


def test_metadata_disagreeing_with_chunks_is_an_error(prepared):
    directory, _ = prepared
    meta = json.loads((directory / ds.METADATA).read_text(encoding="utf-8"))
    meta["samples"] = 36
    ds.write_json(directory / ds.METADATA, meta)
    with pytest.raises(KanjinetError, match="says 36 samples"):
        ds.load_prepared(directory)


def test_out_of_range_label_is_reported(tmp_path):
    chunk = fake_chunk(1, 10)
    chunk["labels"][3] = NUM_CLASSES
    entries = [ds.save_chunk(tmp_path, 1, chunk)]
    ds.write_metadata(tmp_path, entries, {"size": 16})
    with pytest.raises(KanjinetError, match="out of range"):
        ds.load_prepared(tmp_path)


def test_save_chunk_rejects_wrong_dtypes(tmp_path):
    chunk = fake_chunk(1, 4)
    chunk["labels"] = chunk["labels"].astype(np.int64)
    with pytest.raises(ValueError, match="labels"):
        ds.save_chunk(tmp_path, 1, chunk)


def test_writer_split_keeps_writers_apart_and_partitions():
    writers = np.repeat(np.arange(20), 7)
    split = ds.split_indices(writers, "writer", seed=3)
    together = np.concatenate(list(split.values()))
    assert sorted(together.tolist()) == list(range(len(writers)))
    seen = [set(writers[idx].tolist()) for idx in split.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert [len(s) for s in seen] == [16, 2, 2]
    again = ds.split_indices(writers, "writer", seed=3)
    assert all(np.array_equal(split[k], again[k]) for k in split)
    other = ds.split_indices(writers, "writer", seed=4)
    assert not np.array_equal(split["test"], other["test"])


def test_writer_split_gives_every_part_a_writer_when_few():
    split = ds.split_indices(np.repeat(np.arange(3), 4), "writer")
    assert [len(split[k]) for k in ("train", "val", "test")] == [4, 4, 4]


def test_random_split_sizes():
    split = ds.split_indices(np.zeros(100, dtype=np.int32), "random", fractions=(0.7, 0.2, 0.1))
    assert [len(split[k]) for k in ("train", "val", "test")] == [70, 20, 10]
    assert split["train"].dtype == np.int64


def test_bad_split_arguments():
    with pytest.raises(KanjinetError):
        ds.split_indices(np.arange(10), "writer", fractions=(0.5, 0.1, 0.1))
    with pytest.raises(KanjinetError):
        ds.split_indices(np.arange(10), "sheet")


# --- fast writing and hashing (was tests/test_prepfast.py)


def test_write_npz_is_what_np_savez_writes():
    arrays = {name: np.arange(6).astype(dtype) for name, dtype in ds.ARRAY_DTYPES.items()}
    arrays["images"] = np.arange(24, dtype=np.uint8).reshape(6, 2, 2)
    ours, theirs = io.BytesIO(), io.BytesIO()
    ds.write_npz(ours, arrays)
    np.savez(theirs, **arrays)
    members = [
        [(i.filename, i.file_size, i.CRC, i.compress_type) for i in zipfile.ZipFile(f).infolist()]
        for f in (ours, theirs)
    ]
    assert members[0] == members[1]
    ours.seek(0)
    with np.load(ours) as loaded:
        for name, array in arrays.items():
            np.testing.assert_array_equal(loaded[name], array)
            assert loaded[name].dtype == array.dtype


def test_file_sha256_of_a_file_larger_than_its_buffer(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (3 << 20) + 5, dtype=np.uint8).tobytes()
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert ds.file_sha256(path) == hashlib.sha256(data).hexdigest()
