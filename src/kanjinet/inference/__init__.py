"""Running a model: the engines, the model file contract (ONNX metadata, mapping,
class table, calibration), confidence, the shipped models, the Recognizer and `predict`.

Needs no torch (only the torch engine imports it, lazily). Imports `core`,
`preprocess` and, for the torch engine, `training`.
"""
