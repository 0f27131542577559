"""The picture path: a picture (file, PIL image, array) -> the model's input.

Read top to bottom, each step once: `picture.py` (the entry point, `prepare_picture`:
decoding, EXIF, depth, size checks, crop and shrink, the blank check), `picture_ink.py`
(grey, polarity from the paper around the character, even light), `normalize.py` (THE
normalisation, which `prepare` applies to ETL9G records too), `stroke_width.py` (its
step 8), `model_input.py` (/ 255 for the model). `segment.py` cuts a written line into
candidate characters. web/ mirrors it file for file (`preprocess.js` gathers them).
Imports `kanjinet.core` only.
"""
