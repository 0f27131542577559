import json
import shutil

import numpy as np
import pytest
from PIL import Image

from kanjinet.cli import main
from kanjinet.core.classes import CLASS_JIS
from kanjinet.core.errors import KanjinetError
from kanjinet.data import dataset as ds
from kanjinet.data.prepare import PrepareConfig, prepare_dataset
from kanjinet.etl import etl9g
from kanjinet.preprocess.normalize import NORMALIZATION, ink_from_levels, normalize

SYNTH_JSON = "kanjinet-synth.json"


def all_records(etl_dir):
    return [(etl9g.file_number(p), etl9g.read_records(p)) for p in etl9g.list_files(etl_dir)]


@pytest.fixture(scope="module")
def three_file_etl_dir(small_etl_dir, tmp_path_factory):
    """The small synthetic set's records split over ETL9G_01..03 (80 records each)."""
    out = tmp_path_factory.mktemp("etl3")
    raw = b"".join(p.read_bytes() for p in etl9g.list_files(small_etl_dir))
    part = len(raw) // 3
    assert part % etl9g.RECORD_SIZE == 0
    for number in range(1, 4):
        (out / f"ETL9G_{number:02d}").write_bytes(raw[(number - 1) * part : number * part])
    shutil.copy(small_etl_dir / SYNTH_JSON, out / SYNTH_JSON)
    return out


def prepare(etl_dir, out, size=32, workers=1, **kwargs):
    return prepare_dataset(
        PrepareConfig(etl_dir=etl_dir, output_dir=out, size=size, workers=workers, **kwargs)
    )


def chunk_state(out):
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.glob("*.npz")}


def test_arrays_labels_writers_and_sheets_match_the_records(small_etl_dir, small_dataset_dir):
    data = ds.load_prepared(small_dataset_dir)
    files = all_records(small_etl_dir)
    records = np.concatenate([r for _, r in files])
    n = len(records)
    assert data.images.shape == (n, 32, 32) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int16 and data.writers.dtype == np.int32
    assert data.sheets.dtype == np.uint16 and data.files.dtype == np.uint8
    assert data.records.dtype == np.int32
    # Labels go back to each record's JIS code through the fixed class table.
    np.testing.assert_array_equal(np.asarray(CLASS_JIS)[data.labels], records["jis"])
    np.testing.assert_array_equal(data.sheets, records["sheet"])
    set_size = json.loads((small_etl_dir / SYNTH_JSON).read_text(encoding="utf-8"))["set_size"]
    expected_writers = np.concatenate(
        [etl9g.writer_groups(no, np.arange(len(r)), set_size) for no, r in files]
    )
    np.testing.assert_array_equal(data.writers, expected_writers)
    assert data.metadata["writers"] == len(np.unique(expected_writers)) == 10
    # Images are exactly THE normalisation of the decoded records.
    np.testing.assert_array_equal(
        data.images, normalize(ink_from_levels(etl9g.decode_images(records)), 32)
    )
    assert data.metadata["normalization"] == NORMALIZATION
    assert data.metadata["classes"] == 24 and data.metadata["source"]["synthetic"] is True


def test_prepare_and_predict_normalise_identically(small_etl_dir, small_dataset_dir, tmp_path):
    """A record saved as an ordinary dark-on-light picture, read by predict, gives the
    prepared array bit for bit: both go through the one normalize()."""
    from kanjinet.inference.predict import pictures_to_input, read_picture

    data = ds.load_prepared(small_dataset_dir)
    levels = etl9g.decode_images(np.concatenate([r for _, r in all_records(small_etl_dir)]))
    full_contrast = np.flatnonzero(levels.max(axis=(1, 2)) == 15)[:5]
    assert len(full_contrast) == 5
    pictures = []
    for index in full_contrast:
        path = tmp_path / f"record{index}.png"
        Image.fromarray((255 - levels[index] * 17).astype(np.uint8)).save(path)
        pictures.append(read_picture(path))
    model_input = pictures_to_input(pictures, 32)
    back = np.floor(model_input[:, 0] * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(back, data.images[full_contrast])


def test_rerun_after_deleting_a_chunk_redoes_only_that_chunk(three_file_etl_dir, tmp_path):
    out = tmp_path / "ds"
    first = prepare(three_file_etl_dir, out)
    assert first["run"]["made_chunks"] == 3 and first["samples"] == 240
    before = chunk_state(out)
    (out / ds.chunk_name(2)).unlink()
    second = prepare(three_file_etl_dir, out)
    assert (second["run"]["made_chunks"], second["run"]["kept_chunks"]) == (1, 2)
    after = chunk_state(out)
    assert after[ds.chunk_name(1)] == before[ds.chunk_name(1)]
    assert after[ds.chunk_name(3)] == before[ds.chunk_name(3)]
    assert [c["sha256"] for c in second["chunks"]] == [c["sha256"] for c in first["chunks"]]
    assert len(ds.load_prepared(out)) == 240


def test_corrupt_chunk_is_redone(three_file_etl_dir, tmp_path):
    out = tmp_path / "ds"
    first = prepare(three_file_etl_dir, out)
    path = out / ds.chunk_name(3)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    path.write_bytes(bytes(raw))
    with pytest.raises(KanjinetError, match="checksum mismatch"):
        ds.load_prepared(out)
    second = prepare(three_file_etl_dir, out)
    assert (second["run"]["made_chunks"], second["run"]["kept_chunks"]) == (1, 2)
    assert second["chunks"][2]["sha256"] == first["chunks"][2]["sha256"]
    ds.load_prepared(out)


def test_interrupted_run_resumes_from_chunk_info(three_file_etl_dir, tmp_path):
    out = tmp_path / "ds"
    prepare(three_file_etl_dir, out)
    # As if killed after chunk 1: chunk_info lists only it, metadata was never written.
    info = json.loads((out / ds.CHUNK_INFO).read_text(encoding="utf-8"))
    info["chunks"] = info["chunks"][:1]
    ds.write_json(out / ds.CHUNK_INFO, info)
    (out / ds.METADATA).unlink()
    resumed = prepare(three_file_etl_dir, out)
    assert (resumed["run"]["made_chunks"], resumed["run"]["kept_chunks"]) == (2, 1)


def test_changed_settings_or_force_redo_everything(three_file_etl_dir, tmp_path):
    out = tmp_path / "ds"
    prepare(three_file_etl_dir, out)
    assert prepare(three_file_etl_dir, out, force=True)["run"]["made_chunks"] == 3
    resized = prepare(three_file_etl_dir, out, size=48)
    assert resized["run"]["made_chunks"] == 3
    assert ds.load_prepared(out).images.shape == (240, 48, 48)


def test_two_workers_write_the_same_chunks(three_file_etl_dir, tmp_path):
    one = prepare(three_file_etl_dir, tmp_path / "one")
    two = prepare(three_file_etl_dir, tmp_path / "two", workers=2)
    assert two["run"]["workers"] == 2
    assert [c["sha256"] for c in one["chunks"]] == [c["sha256"] for c in two["chunks"]]


@pytest.mark.parametrize("size", [32, 96])
def test_sizes(small_etl_dir, tmp_path, size):
    meta = prepare(small_etl_dir, tmp_path / "ds", size=size)
    data = ds.load_prepared(tmp_path / "ds")
    assert meta["size"] == size and data.images.shape == (240, size, size)
    margin = max(1, size // 16)
    assert data.images[:, :margin].max() == 0 and data.images[:, :, -margin:].max() == 0
    assert (data.images.max(axis=(1, 2)) == 255).all()


def test_stale_chunks_of_removed_files_are_deleted(three_file_etl_dir, tmp_path):
    out = tmp_path / "ds"
    prepare(three_file_etl_dir, out)
    fewer = tmp_path / "etl"
    fewer.mkdir()
    for name in ("ETL9G_01", SYNTH_JSON):
        shutil.copy2(three_file_etl_dir / name, fewer / name)  # keeps mtime
    meta = prepare(fewer, out)
    assert sorted(p.name for p in out.glob("*.npz")) == [ds.chunk_name(1)]
    assert meta["samples"] == 80 and meta["run"]["kept_chunks"] == 1


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys, small_etl_dir):
    assert (
        main(["prepare", "--etl-dir", str(tmp_path / "nope"), "--output-dir", str(tmp_path)]) == 2
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ETL9G_01").write_bytes(b"\0" * 8000)
    assert main(["prepare", "--etl-dir", str(bad), "--output-dir", str(tmp_path / "o")]) == 2
    size = ["--etl-dir", str(small_etl_dir), "--output-dir", str(tmp_path / "o"), "--size", "4"]
    assert main(["prepare", *size]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 3
    assert "no such directory" in errors[0] and "not a multiple" in errors[1]
    assert "--size 4" in errors[2]


def test_cli_prints_a_summary(small_etl_dir, tmp_path, capsys):
    out = tmp_path / "ds"
    args = ["prepare", "--etl-dir", str(small_etl_dir), "--output-dir", str(out), "--size", "32"]
    assert main([*args, "--workers", "1"]) == 0
    assert "prepared 240 samples (24 classes, 10 writers) at 32x32" in capsys.readouterr().out


def test_refuses_an_output_dir_holding_someone_elses_metadata(small_etl_dir, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "metadata.json").write_text('{"project": "not ours"}')
    with pytest.raises(KanjinetError, match="not written by kanjinet prepare"):
        prepare(small_etl_dir, out)
    assert (out / "metadata.json").read_text() == '{"project": "not ours"}'


def test_bad_file_among_good_ones_stops_two_workers_with_its_error(three_file_etl_dir, tmp_path):
    etl = tmp_path / "etl"
    shutil.copytree(three_file_etl_dir, etl)
    raw = bytearray((etl / "ETL9G_02").read_bytes())
    raw[2:4] = (0x7F7F).to_bytes(2, "big")  # record 0's JIS code: not an ETL9G class
    (etl / "ETL9G_02").write_bytes(bytes(raw))
    with pytest.raises(KanjinetError, match="ETL9G_02: record 0 has JIS code 0x7F7F"):
        prepare(etl, tmp_path / "ds", workers=2)
    assert not (tmp_path / "ds" / ds.METADATA).exists()


def test_a_second_prepare_into_the_same_directory_is_refused(small_etl_dir, tmp_path):
    from kanjinet.core.lock import directory_lock

    out = tmp_path / "ds"
    busy = pytest.raises(KanjinetError, match=r"ds: another kanjinet prepare is writing here")
    with directory_lock(out, "prepare"), busy:  # as a first run, still working, holds it
        prepare(small_etl_dir, out)
    assert not (out / ds.METADATA).exists()
    assert prepare(small_etl_dir, out)["samples"] == 240  # free again once it ends


def test_chunk_temporaries_have_unique_names_and_stale_ones_are_removed(
    three_file_etl_dir, tmp_path, monkeypatch
):
    out = tmp_path / "ds"
    out.mkdir()
    stale = [
        out / (ds.chunk_name(2) + ".tmp"),  # older versions' fixed name
        out / (ds.chunk_name(3) + ".k2_x9abc.tmp"),  # atomic_path's, from a killed run
        out / (ds.METADATA + ".0a1b2c3d.tmp"),
    ]
    for path in stale:
        path.write_bytes(b"half written")
    seen = []
    real_sha = ds.file_sha256
    monkeypatch.setattr(ds, "file_sha256", lambda p: seen.append(p.name) or real_sha(p))
    prepare(three_file_etl_dir, out)
    assert not any(path.exists() for path in stale)
    temporaries = [name for name in seen if ".npz." in name]
    assert len(temporaries) == 3 and len(set(temporaries)) == 3
    assert all(ds.CHUNK_TEMPORARY_RE.match(name) for name in temporaries)


def test_directory_names_that_are_not_utf8_work(small_etl_dir, tmp_path):
    import os
    import subprocess
    import sys

    etl = tmp_path / os.fsdecode(b"etl-\xff")
    shutil.copytree(small_etl_dir, etl)
    out = tmp_path / os.fsdecode(b"data-\xfe")
    run = subprocess.run(
        [sys.executable, "-m", "kanjinet", "prepare", "--etl-dir", os.fsencode(etl)]
        + ["--output-dir", os.fsencode(out), "--size", "16", "--workers", "1"],
        capture_output=True,
    )
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in run.stderr
    meta = json.loads((out / ds.METADATA).read_text(encoding="utf-8"))  # valid UTF-8
    assert meta["source"]["etl_dir"] == str(etl)
    assert len(ds.load_prepared(out)) == 240


@pytest.mark.parametrize(
    "document", ["[]", "null", '{"format": "kanjinet-prepared"}', "CHUNK_WITHOUT_FILE_NO"]
)
def test_metadata_of_the_wrong_shape_is_one_error(small_dataset_dir, tmp_path, document):
    out = tmp_path / "ds"
    shutil.copytree(small_dataset_dir, out)
    if document == "CHUNK_WITHOUT_FILE_NO":
        meta = json.loads((out / ds.METADATA).read_text(encoding="utf-8"))
        del meta["chunks"][0]["file_no"]
        document = json.dumps(meta)
    (out / ds.METADATA).write_text(document, encoding="utf-8")
    with pytest.raises(KanjinetError, match=r"metadata.json: (not a kanjinet|damaged)"):
        ds.load_prepared(out)


@pytest.mark.parametrize("document", ["[]", "null", '{"settings": 1}', '{"chunks": [{}]}'])
def test_a_resume_record_of_any_shape_only_costs_redoing(small_etl_dir, tmp_path, document):
    out = tmp_path / "ds"
    prepare(small_etl_dir, out)
    info = json.loads((out / ds.CHUNK_INFO).read_text(encoding="utf-8"))
    if document == '{"chunks": [{}]}':
        info["chunks"] = [{}]  # the right settings, an entry without file_no
        document = json.dumps(info)
    (out / ds.CHUNK_INFO).write_text(document, encoding="utf-8")
    (out / ds.METADATA).write_text("[]", encoding="utf-8")  # someone else's? no: a list
    with pytest.raises(KanjinetError, match="not written by kanjinet prepare"):
        prepare(small_etl_dir, out)
    (out / ds.METADATA).unlink()
    assert prepare(small_etl_dir, out)["run"]["made_chunks"] == 1


def test_workers_exit_when_prepare_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    # A main process whose one pool worker (set up as prepare's) is busy for a minute.
    script = """
import multiprocessing, sys, time
from kanjinet.data import prepare
if __name__ == "__main__":
    pool = multiprocessing.get_context().Pool(1, prepare.init_worker, (None,))
    pool.apply_async(time.sleep, (60,))
    print(pool._pool[0].pid, flush=True)
    time.sleep(60)
"""
    (tmp_path / "main.py").write_text(script, encoding="utf-8")
    main = subprocess.Popen([sys.executable, str(tmp_path / "main.py")], stdout=subprocess.PIPE)
    worker = int(main.stdout.readline())
    os.kill(main.pid, signal.SIGKILL)
    main.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its killed parent")


def test_a_rerun_that_keeps_everything_says_so(small_etl_dir, tmp_path, capsys):
    args = ["prepare", "--etl-dir", str(small_etl_dir), "--output-dir", str(tmp_path / "ds")]
    assert main([*args, "--size", "16", "--workers", "1"]) == 0
    capsys.readouterr()
    assert main([*args, "--size", "16", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "nothing to redo: all 1 chunks kept, checksums verified" in out
    assert "records/s" not in out


def test_logs_get_lines_not_bar_frames_and_warnings_their_own_line(three_file_etl_dir, tmp_path):
    import subprocess
    import sys

    etl = shutil.copytree(three_file_etl_dir, tmp_path / "etl")
    with open(etl / "ETL9G_02", "ab") as handle:
        handle.write(b"\0" * 100)  # a partial last record
    run = subprocess.run(
        [sys.executable, "-m", "kanjinet", "prepare", "--etl-dir", str(etl)]
        + ["--output-dir", str(tmp_path / "ds"), "--size", "16", "--workers", "2"]
        + ["--allow-truncated"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stderr  # stderr is a pipe here: whole lines only
    lines = run.stderr.splitlines()
    warning = [line for line in lines if "dropped 100 trailing bytes" in line]
    assert len(warning) == 1 and warning[0].startswith("kanjinet: warning: ")
    assert any(line.startswith("prepare: 100%") for line in lines)


def test_the_same_directory_twice_is_read_once_with_a_warning(small_etl_dir, tmp_path):
    """`--etl-dir d d`, or d and a link to it: one source, each writer once (it was read
    twice: twice the samples, twice the writers, the same writer in train and test)."""
    link = tmp_path / "link"
    link.symlink_to(small_etl_dir, target_is_directory=True)
    single = prepare(small_etl_dir, tmp_path / "single")
    for name, twice in (("twice", [small_etl_dir, small_etl_dir]), ("link", [small_etl_dir, link])):
        with pytest.warns(UserWarning, match=f"{twice[1]}: the same directory as .*; read once"):
            meta = prepare(twice, tmp_path / name)
        assert (meta["samples"], meta["writers"]) == (single["samples"], single["writers"])
        assert [s["etl_dir"] for s in meta["sources"]] == [str(small_etl_dir)]


@pytest.mark.parametrize("how", ["copy", "renamed copy", "link"])
def test_a_file_with_the_same_bytes_in_another_directory_is_refused(
    small_etl_dir, tmp_path, capsys, how
):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(small_etl_dir / SYNTH_JSON, other)
    name = "ETL9G_02" if how == "renamed copy" else "ETL9G_01"
    if how == "link":
        (other / name).symlink_to(small_etl_dir / "ETL9G_01")
    else:
        shutil.copy(small_etl_dir / "ETL9G_01", other / name)
    out = tmp_path / "ds"
    args = ["prepare", "--etl-dir", str(small_etl_dir), str(other), "--output-dir", str(out)]
    assert main(args) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    kind = "one file, reached twice" if how == "link" else "a copy"
    assert len(errors) == 1 and errors[0].endswith(
        f"{small_etl_dir / 'ETL9G_01'} and {other / name}: the same bytes ({kind}); their "
        "writers would be counted twice and land on both sides of the writer split; keep one"
    )
    assert not list(out.glob("*.npz"))
