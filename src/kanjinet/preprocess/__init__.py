"""The picture path: a picture (file, PIL image, array) -> the model's input.

Decoding, EXIF, depth, polarity, lighting, crop, normalisation and stroke width;
the twin of `web/preprocess.js`. Imports `kanjinet.core` only.
"""
