"""Synthetic ETL-format data: `kanjinet synth`, the writers' hands, non-character
and photo-like pictures.

Imports `core`, `etl` and `preprocess`.
"""
