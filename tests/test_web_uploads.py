"""Camera pictures uploaded to the page read as `predict` reads them, in real headless
Chromium (the `browser` fixture of conftest.py, which skips with the reason without one;
the page helpers are test_web_e2e.py's): a shadowed, turned phone photo, a small
character in a 12-megapixel-class page, an EXIF-rotated JPEG and a 16-bit PNG, with the
shipped reference model. Pictures are drawn by the project's own code
(`core.fonts.reference_picture`, `synthesis.photo_like`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_picture_ink import ORIENTATION, SHADOW_SEEDS, record_levels, upright
from test_web_e2e import Page, reference_server  # noqa: F401 (a fixture)

from kanjinet.core.fonts import reference_picture
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import REFERENCE_MODEL
from kanjinet.preprocess.picture import pictures_to_input, read_picture

pytestmark = pytest.mark.slow


def lossless(picture: Image.Image, path: Path) -> Path:
    """PNG, so that the browser and Python decode the same pixels (JPEG decoders may not)."""
    picture.save(path)
    return path


def shadowed_photo(folder: Path) -> tuple[Path, str]:
    from kanjinet.synthesis.photo_like import photograph

    picture, _ = photograph(record_levels("月"), np.random.default_rng(SHADOW_SEEDS[0]))
    return lossless(picture, folder / "shadowed.png"), "月"


def large_page(folder: Path) -> tuple[Path, str]:
    from kanjinet.synthesis.photo_like import small_in_large

    picture, _ = small_in_large(record_levels("木"), np.random.default_rng(3))
    return lossless(picture, folder / "page.png"), "木"


def rotated_jpeg(folder: Path) -> tuple[Path, str]:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = folder / "rotated.jpg"
    upright("月").transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)
    return path, "月"


def deep_png(folder: Path) -> tuple[Path, str]:
    grey = np.asarray(reference_picture("森", 160), dtype=np.float64)
    path = folder / "deep.png"
    Image.fromarray((10000 + grey / 255 * 30000).astype(np.uint16)).save(path)
    return path, "森"


def upload(page: Page, path: Path) -> dict:
    before = page.count()
    page.page.set_input_files("#upload", str(path))
    return page.settle(before)


def test_camera_pictures_read_in_the_page_as_predict_reads_them(
    browser,
    reference_server,  # noqa: F811
    tmp_path,
):
    predictor = Recognizer(REFERENCE_MODEL)
    page = Page(browser, reference_server)
    try:
        for make in (shadowed_photo, large_page):
            path, char = make(tmp_path)
            state = upload(page, path)
            python = pictures_to_input([read_picture(path)], predictor.image_size)
            page_input = np.array(state["input"], dtype=np.float32)
            assert np.array_equal(page_input, python.ravel()), f"{path.name}: input differs"
            assert state["result"][0]["char"] == char, (path.name, state["result"][:3])
        for make in (rotated_jpeg, deep_png):  # decoded by the browser's own decoders
            path, char = make(tmp_path)
            state = upload(page, path)
            assert state["result"][0]["char"] == char, (path.name, state["result"][:3])
            assert predictor.recognize(path, 1)[0].character == char
        assert page.errors == [] and page.foreign == []
    finally:
        page.close()
