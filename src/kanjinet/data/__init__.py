"""The prepared dataset: `kanjinet prepare` (ETL files -> normalised chunks) and the
dataset on disk with its split recipe.

Imports `core`, `etl` and `preprocess`.
"""
