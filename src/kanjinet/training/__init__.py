"""Model, training and evaluation with PyTorch: presets, checkpoints, augmentation,
settings, tensors, devices, distributed runs, resume, warm start, `train`, `evaluate`.

Imports `core`, `etl`, `preprocess`, `synthesis` (non-character pictures) and `data`.
"""
