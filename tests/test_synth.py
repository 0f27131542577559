"""Synthetic ETL9G files: the real layout, headers, pictures, determinism, fonts, CLI."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kanjinet.cli import main
from kanjinet.core import fonts as fonts_module
from kanjinet.core.classes import CLASS_JIS, NUM_CLASSES
from kanjinet.core.errors import KanjinetError
from kanjinet.core.fonts import find_japanese_fonts, has_glyph
from kanjinet.etl import etl9g
from kanjinet.synthesis import handwriting, synth
from kanjinet.synthesis import preview as preview_module
from kanjinet.synthesis.handwriting import Pens
from kanjinet.synthesis.synth import SynthConfig, synthesize

C, W = 24, 10  # the shared small_etl_dir fixture (tests/conftest.py)


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in etl9g.list_files(directory)}


@pytest.fixture(scope="module")
def small_records(small_etl_dir):
    (path,) = etl9g.list_files(small_etl_dir)
    return etl9g.read_records(path)


# ------------------------------------------------------------------ layout math


def test_file_sizes_like_the_real_database():
    assert synth.file_sizes(4 * NUM_CLASSES) == [etl9g.RECORDS_PER_FILE]
    assert synth.file_sizes(5 * NUM_CLASSES) == [12144, 3036]
    assert synth.file_sizes(200 * NUM_CLASSES) == [12144] * 50
    assert synth.file_sizes(24 * 10) == [240]
    assert etl9g.RECORDS_PER_FILE * etl9g.RECORD_SIZE == 99_568_656


@pytest.mark.parametrize(
    ("classes", "writers", "workers"), [(5000, 7, 2), (24, 10, 1), (3036, 3, 8)]
)
def test_tasks_cover_every_record_once(classes, writers, workers):
    tasks = synth.plan_tasks(classes, writers, workers)
    numbers = np.sort(np.concatenate([t.numbers(classes) for t in tasks]))
    np.testing.assert_array_equal(numbers, np.arange(classes * writers))
    assert len(tasks) >= min(workers, classes * writers // 32)


def test_runs_split_where_files_end():
    # Writer 4's data set of 3,036 starts file 2; writer 3's ends file 1 exactly.
    assert synth.file_spans(3 * 3036, 3036) == [(1, 9108, 0, 3036)]
    assert synth.file_spans(4 * 3036, 100) == [(2, 0, 0, 100)]
    # With 5,000 classes a data set straddles: 12,144 - 10,000 = 2,144 records in file 1.
    assert synth.file_spans(2 * 5000, 5000) == [(1, 10000, 0, 2144), (2, 0, 2144, 2856)]


def test_sheets_like_the_real_database():
    # A full data set spans 20 sheets of <= 152 characters; file k starts at sheet 80(k-1)+1.
    for k in (1, 2, 50):
        records = etl9g.empty_records(NUM_CLASSES)
        first = (k - 1) * etl9g.RECORDS_PER_FILE
        synth.fill_headers(records, first + np.arange(NUM_CLASSES), NUM_CLASSES, seed=0)
        assert records["sheet"][0] == 80 * (k - 1) + 1
        assert records["sheet"][-1] == 80 * (k - 1) + 20
        assert np.bincount(records["sheet"] - records["sheet"][0]).max() == 152
        np.testing.assert_array_equal(records["jis"], CLASS_JIS)


def test_headers_are_plausible(small_records):
    r = small_records
    assert r["reading"][0] == b"A       " and r["reading"][2] == b"U       "
    assert all(x.decode("ascii").strip() for x in r["reading"])
    np.testing.assert_array_equal(r["serial"], np.arange(1, C * W + 1))
    assert set(np.unique(r["sex"])) <= {1, 2}
    assert r["age"].min() >= 15 and r["age"].max() < 60
    for field in ("gathering_date", "scanning_date"):
        yy, mm = np.divmod(r[field].astype(int), 100)
        assert (yy >= 81).all() and (yy <= 86).all() and (mm >= 1).all() and (mm <= 12).all()
    assert (r["scanning_date"] >= r["gathering_date"]).all()
    # Writer fields are constant within a data set.
    per_writer = r["age"].reshape(W, C)
    assert (per_writer == per_writer[:, :1]).all()


def test_kanji_readings_are_ascii():
    assert synth.reading_of(synth.class_table()[CLASS_JIS.index(0x4544)]) == b"K4544   "


# ------------------------------------------------------------------ the small set


def test_small_set_layout_and_labels(small_etl_dir, small_records):
    assert [p.name for p in etl9g.list_files(small_etl_dir)] == ["ETL9G_01"]
    assert (small_etl_dir / "ETL9G_01").stat().st_size == C * W * etl9g.RECORD_SIZE
    labels = etl9g.class_indices(small_records).reshape(W, C)
    np.testing.assert_array_equal(labels, np.tile(np.arange(C), (W, 1)))
    writers = etl9g.writer_groups(1, np.arange(C * W), set_size=C)
    np.testing.assert_array_equal(writers, np.repeat(np.arange(W), C))


def test_small_set_json_and_info(small_etl_dir):
    info = json.loads((small_etl_dir / "kanjinet-synth.json").read_text(encoding="utf-8"))
    assert info["synthetic"] is True
    assert (info["set_size"], info["classes"], info["writers"], info["seed"]) == (C, C, W, 0)
    assert info["records"] == C * W and info["files"] == ["ETL9G_01"]
    assert info["generator"].startswith("kanjinet ")
    lines = (small_etl_dir / "ETL9INFO").read_text(encoding="ascii").splitlines()
    assert len(lines) == 1 and lines[0].startswith("etl9g_01\t(F,8199,8199,G-type)")
    data = np.frombuffer((small_etl_dir / "ETL9G_01").read_bytes(), dtype=np.uint8)
    assert f"{int(data.sum(dtype=np.uint64)) & 0xFFFF:04X} 16bit-checksum" in lines[0]


def test_pictures_have_ink_high_on_a_zero_background(small_records):
    images = etl9g.decode_images(small_records)
    assert images.shape == (C * W, 127, 128) and images.max() <= 15
    flat = images.reshape(len(images), -1)
    # Paper is level 0 almost everywhere; every picture has strokes reaching 11..15.
    assert (np.median(flat, axis=1) == 0).all()
    assert ((flat == 0).mean(axis=1) > 0.7).all()
    assert (flat.max(axis=1) >= 11).all()
    # The character sits in the middle: far more ink there than in the outer border.
    centre = images[:, 32:96, 32:96].mean()
    border = np.concatenate([images[:, :8].ravel(), images[:, -8:].ravel()]).mean()
    assert centre > 8 * border


def test_weak_contrast_and_edge_clutter_like_the_scans(small_records):
    images = etl9g.decode_images(small_records)
    # Soft stroke edges: many intermediate levels, not a two-level picture.
    assert len(np.unique(images)) >= 12
    ink = images[images > 0]
    assert ((ink > 0) & (ink < 8)).mean() > 0.2
    # Some (not most) records carry neighbour fragments or frame marks at the edges.
    edge = np.zeros(images.shape[1:], dtype=bool)
    edge[:5], edge[-5:], edge[:, :5], edge[:, -5:] = True, True, True, True
    cluttered = (images[:, edge] >= 6).any(axis=1).mean()
    assert 0.05 < cluttered < 0.6


def test_writers_differ_and_samples_are_not_copies(small_records):
    images = etl9g.decode_images(small_records).astype(np.int16).reshape(W, C, -1)
    # Same class, different writers: never identical pictures.
    for cls in range(C):
        same_class = images[:, cls]
        assert len({row.tobytes() for row in same_class}) == W
    # Writers have their own style: mean ink of writers' sets differ.
    ink = (images > 4).mean(axis=(1, 2))
    assert ink.max() > 1.2 * ink.min()


def test_stroke_ends_from_kanjivg_types():
    assert handwriting.glyph("人").ends == ("sweep", "sweep")
    assert handwriting.glyph("田").ends == ("stop",) * 5
    assert handwriting.glyph("永").ends[0] == "dot"
    assert set(handwriting.glyph("あ").ends) == {"plain"}


def coarse(image: np.ndarray) -> np.ndarray:
    """8 x 8 block means: compares shapes, not exact stroke positions."""
    return image[:120, :120].astype(float).reshape(15, 8, 15, 8).mean(axis=(1, 3)).ravel()


@pytest.mark.parametrize(("char", "other"), [("田", "由"), ("木", "本")])
def test_samples_show_their_character(char, other):
    # Samples of a character resemble each other more than a similar-looking character.
    style = handwriting.writer_style(0, 0)
    rng = np.random.default_rng(1)
    mine = [coarse(handwriting.render(char, "一", style, rng)) for _ in range(6)]
    theirs = [coarse(handwriting.render(other, "一", style, rng)) for _ in range(6)]
    same = np.mean([np.corrcoef(mine[0], x)[0, 1] for x in mine[1:]])
    different = np.mean([np.corrcoef(mine[0], x)[0, 1] for x in theirs])
    assert same > different + 0.1


# ------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_any_worker_count(small_etl_dir, tmp_path):
    synthesize(SynthConfig(out=tmp_path, writers=W, classes=C, seed=0, workers=2))
    assert file_bytes(tmp_path) == file_bytes(small_etl_dir)


def test_spawned_workers_write_the_same_bytes(small_etl_dir, tmp_path, monkeypatch):
    # Windows and macOS start workers by spawn: nothing may rely on fork's inherited state.
    monkeypatch.setattr(synth, "MP_CONTEXT", multiprocessing.get_context("spawn"))
    synthesize(SynthConfig(out=tmp_path, writers=W, classes=C, seed=0, workers=2))
    assert file_bytes(tmp_path) == file_bytes(small_etl_dir)


def test_different_seed_different_bytes(small_etl_dir, tmp_path):
    synthesize(SynthConfig(out=tmp_path, writers=W, classes=C, seed=1, workers=1))
    ours, theirs = file_bytes(tmp_path)["ETL9G_01"], file_bytes(small_etl_dir)["ETL9G_01"]
    assert len(ours) == len(theirs) and ours != theirs


def test_data_sets_straddle_files(small_etl_dir, tmp_path, monkeypatch):
    # Same rule as 3,036 x 5 writers, at a size that is fast: 100-record files.
    monkeypatch.setattr(synth, "RECORDS_PER_FILE", 100)
    files = synthesize(SynthConfig(out=tmp_path, writers=W, classes=C, seed=0, workers=1))
    assert [p.name for p in files] == ["ETL9G_01", "ETL9G_02", "ETL9G_03"]
    assert [p.stat().st_size // etl9g.RECORD_SIZE for p in files] == [100, 100, 40]
    joined = b"".join(p.read_bytes() for p in files)
    assert joined == (small_etl_dir / "ETL9G_01").read_bytes()
    info = (tmp_path / "ETL9INFO").read_text(encoding="ascii").splitlines()
    assert [line.split("\t")[0] for line in info] == ["etl9g_01", "etl9g_02", "etl9g_03"]


def test_rerun_replaces_an_earlier_synthetic_set(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "RECORDS_PER_FILE", 20)
    synthesize(SynthConfig(out=tmp_path, writers=3, classes=10, workers=1))
    assert len(etl9g.list_files(tmp_path)) == 2
    synthesize(SynthConfig(out=tmp_path, writers=1, classes=10, workers=1))
    assert [p.name for p in etl9g.list_files(tmp_path)] == ["ETL9G_01"]
    assert not list(tmp_path.glob("*.tmp"))


# ------------------------------------------------------------------ errors, fonts, CLI


def test_refuses_to_write_over_real_files(tmp_path):
    (tmp_path / "ETL9G_01").write_bytes(b"")
    with pytest.raises(KanjinetError, match="not written by kanjinet synth"):
        synthesize(SynthConfig(out=tmp_path, writers=1, classes=2, workers=1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"classes": 0}, "--classes 0"),
        ({"classes": 3037}, "--classes 3037"),
        ({"writers": 0}, "--writers 0"),
        ({"seed": -1}, "--seed -1"),
        ({"writers": 400, "classes": 3036}, "more than ETL9G_99"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, change, message):
    with pytest.raises(KanjinetError, match=message):
        synthesize(SynthConfig(out=tmp_path, **change))
    assert not list(tmp_path.iterdir())


def test_unwritable_output_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(KanjinetError, match="file"):
        synthesize(SynthConfig(out=tmp_path / "file" / "set", writers=1, classes=2, workers=1))


def test_fonts_error_when_none_is_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(fonts_module, "FONT_DIRS", (str(tmp_path / "no-fonts"),))
    with pytest.raises(KanjinetError, match="--fonts: no installed font covers Japanese"):
        synthesize(SynthConfig(out=tmp_path / "out", writers=1, classes=4, fonts=True))


def test_fonts_real_run_when_one_is_installed(tmp_path):
    fonts = find_japanese_fonts()
    if not fonts:
        pytest.skip("no Japanese font installed (the error path is tested above)")
    files = synthesize(SynthConfig(out=tmp_path, writers=2, classes=24, fonts=True, workers=1))
    images = etl9g.decode_images(etl9g.read_records(files[0]))
    # Hairline weights (M+ Thin, ...) scan faint, but every record has real ink.
    assert (images.reshape(len(images), -1).max(axis=1) >= 8).all()
    info = json.loads((tmp_path / "kanjinet-synth.json").read_text(encoding="utf-8"))
    assert info["fonts"]


def test_cli_writes_set_and_preview(tmp_path, capsys):
    preview = tmp_path / "grid.png"
    status = main(
        ["synth", "--out", str(tmp_path / "set"), "--classes", "30", "--writers", "4",
         "--workers", "1", "--preview", str(preview)]
    )  # fmt: skip
    assert status == 0
    assert "120 synthetic records" in capsys.readouterr().out
    assert len(etl9g.read_records(tmp_path / "set" / "ETL9G_01")) == 120
    with Image.open(preview) as grid:
        assert grid.size == (
            10 * preview_module.PREVIEW_CELL[0],
            10 * preview_module.PREVIEW_CELL[1],
        )


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--classes", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["kanjinet synth: error: --classes 0: must be 1..3036"]


def test_font_files_and_share_choose_the_fonts(tmp_path):
    fonts = find_japanese_fonts()
    if not fonts:
        pytest.skip("no Japanese font installed")
    synthesize(
        SynthConfig(
            out=tmp_path, writers=2, classes=12, font_file=[fonts[0]], font_share=1.0, workers=1
        )
    )
    info = json.loads((tmp_path / "kanjinet-synth.json").read_text(encoding="utf-8"))
    assert info["fonts"] == [fonts[0].name] and info["font_share"] == 1.0


def test_font_share_and_font_file_are_checked(tmp_path):
    with pytest.raises(KanjinetError, match="--font-share"):
        synthesize(SynthConfig(out=tmp_path, font_share=1.5))
    with pytest.raises(KanjinetError, match="no such file"):
        synthesize(SynthConfig(out=tmp_path, font_file=[tmp_path / "nope.ttf"]))
    (tmp_path / "fake.ttf").write_bytes(b"not a font")
    with pytest.raises(KanjinetError, match="not a font"):
        synthesize(SynthConfig(out=tmp_path, font_file=[tmp_path / "fake.ttf"]))


def test_a_font_without_the_glyph_is_not_drawn():
    fonts = find_japanese_fonts()
    if not fonts:
        pytest.skip("no Japanese font installed")
    assert has_glyph(str(fonts[0]), "田")
    assert not has_glyph(str(fonts[0]), "\ue001")  # private use: no glyph
    rng = np.random.default_rng(0)
    assert handwriting.pick_font((str(fonts[0]),), "\ue001", rng) is None


def test_pen_share_gives_a_share_of_writers_a_thick_marker(tmp_path):
    """--pen-share: that share of writers draws with a marker (6-18 % of the character box),
    the others as before, byte for byte."""
    styles = [handwriting.writer_pen(0, w, Pens(0.5)) for w in range(40)]
    plain = [handwriting.writer_style(0, w) for w in range(40)]
    markers = [s for s, p in zip(styles, plain, strict=True) if s != p]
    assert 10 <= len(markers) <= 30
    assert all(s.width >= 0.8 * s.size * 0.06 > 2.5 for s in markers)
    assert handwriting.writer_pen(0, 3, Pens(0.0)) == plain[3]
    a, b = (tmp_path / "a", tmp_path / "b")
    synthesize(SynthConfig(out=a, writers=2, classes=6, seed=0, workers=1))
    synthesize(SynthConfig(out=b, writers=2, classes=6, seed=0, workers=1, pen_share=1.0))
    ink = [etl9g.decode_images(etl9g.read_records(d / "ETL9G_01")).sum(dtype=int) for d in (a, b)]
    assert ink[1] > 1.5 * ink[0]
    with pytest.raises(KanjinetError, match="--pen-share"):
        synthesize(SynthConfig(out=a, writers=1, classes=1, pen_share=1.5))


def test_marker_widest_widens_only_the_markers(tmp_path):
    """--marker-widest: markers reach that share of the box; the default draws as before."""
    default = [handwriting.writer_pen(0, w, Pens(1.0)) for w in range(30)]
    wide = [handwriting.writer_pen(0, w, Pens(1.0, 0.3)) for w in range(30)]
    assert default == [handwriting.writer_pen(0, w, Pens(1.0, 0.18)) for w in range(30)]
    assert all(w.width >= d.width for w, d in zip(wide, default, strict=True))
    assert max(w.width / (0.8 * w.size) for w in wide) > 0.2
    assert max(d.width / (0.8 * d.size) for d in default) <= 0.18
    a, b = (tmp_path / "a", tmp_path / "b")
    synthesize(SynthConfig(out=a, writers=2, classes=6, seed=0, workers=1, pen_share=1.0))
    synthesize(SynthConfig(out=b, writers=2, classes=6, seed=0, workers=1, pen_share=1.0,
                           marker_widest=0.3))  # fmt: skip
    ink = [etl9g.decode_images(etl9g.read_records(d / "ETL9G_01")).sum(dtype=int) for d in (a, b)]
    assert ink[1] > ink[0]
    with pytest.raises(KanjinetError, match="--marker-widest"):
        synthesize(SynthConfig(out=a, writers=1, classes=1, pen_share=1.0, marker_widest=0.6))


def horizontal_stroke_rows(steady_share: float) -> np.ndarray:
    """Rows spanned by the ink of 一 in the middle of the cell, for 24 writers."""
    rows = []
    for writer in range(24):
        levels = handwriting.draw_character(
            ["一", "二"], 0, writer, 0, pens=Pens(steady_share=steady_share)
        )
        inked = np.flatnonzero((levels[24:104, 16:112] >= 8).sum(axis=1) > 3)
        rows.append(inked.max() - inked.min() + 1)
    return np.array(rows)


def test_steady_share_gives_a_share_of_writers_a_steady_hand(tmp_path):
    """--steady-share: that share of writers draws upright, straight strokes (一 stays level),
    the others as before; the share is drawn from its own stream, apart from the marker's."""
    styles = [handwriting.writer_pen(0, w, Pens(steady_share=0.5)) for w in range(40)]
    plain = [handwriting.writer_style(0, w) for w in range(40)]
    steady = [s for s, p in zip(styles, plain, strict=True) if s != p]
    assert 10 <= len(steady) <= 30
    assert all(s.slant == s.rotation == s.cursive == 0.0 for s in steady)
    markers = [handwriting.writer_pen(0, w, Pens(0.5)) for w in range(40)]
    both = [handwriting.writer_pen(0, w, Pens(0.5, steady_share=0.5)) for w in range(40)]
    assert [m.width for m in markers] == [b.width for b in both]
    hurried, level = horizontal_stroke_rows(0.0), horizontal_stroke_rows(1.0)
    assert level.mean() < 0.8 * hurried.mean() and level.max() < hurried.max()
    synthesize(SynthConfig(out=tmp_path / "s", writers=1, classes=2, workers=1, steady_share=1.0))
    info = json.loads((tmp_path / "s" / etl9g.SYNTH_INFO).read_text(encoding="utf-8"))
    assert info["steady_share"] == 1.0
    with pytest.raises(KanjinetError, match="--steady-share"):
        synthesize(SynthConfig(out=tmp_path / "bad", writers=1, classes=1, steady_share=2.0))


def test_other_formats_take_more_chars_than_etl9g_has_classes(tmp_path):
    """etl8g's --chars may hold any JIS X 0208 characters: ETL9G's 3,036 and katakana too
    (the read model's 3,111), while ETL9G's own --classes stays bounded by its table."""
    from kanjinet.core.classes import jis_to_char

    chars = "".join(jis_to_char(code) for code in CLASS_JIS) + "アイウエオカキクケコー"
    cfg = SynthConfig(out=tmp_path / "o", format="etl8g", chars=chars, writers=1, workers=1)
    synth.check_config(cfg)
    assert cfg.classes == NUM_CLASSES + 11
    with pytest.raises(
        KanjinetError, match=f"--classes {NUM_CLASSES + 1}: must be 1..{NUM_CLASSES}"
    ):
        synth.check_config(SynthConfig(out=tmp_path / "e", classes=NUM_CLASSES + 1))


def test_chars_picks_the_classes_drawn_in_their_order(tmp_path):
    """--chars draws chosen classes (kanji among them) instead of the first N (all kana)."""
    from kanjinet.core.classes import char_to_jis

    out = tmp_path / "chosen"
    synthesize(SynthConfig(out=out, chars="田山あ", writers=2, workers=1))
    records = etl9g.read_records(out / "ETL9G_01")
    assert [int(j) for j in records["jis"]] == [char_to_jis(c) for c in "田山あ"] * 2
    info = json.loads((out / etl9g.SYNTH_INFO).read_text(encoding="utf-8"))
    assert (info["set_size"], info["classes"], info["chars"]) == (3, 3, "田山あ")
    for chars, problem in (("田田", "given twice"), ("ア", "not one of the 3,036")):
        with pytest.raises(KanjinetError, match=f"--chars: .*{problem}"):
            synthesize(SynthConfig(out=tmp_path / "bad", chars=chars, writers=1, workers=1))
