"""From a checkpoint to verified model files: ONNX per backend, int8, NNEF, the checks
run on every written file, and `onnx-info`.

Imports `core`, `data`, `training` and `inference` (engines and the model file).
"""
