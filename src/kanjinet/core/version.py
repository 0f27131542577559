"""The package version, below every stage so that any module can name it."""

__version__ = "0.1.0"  # pyproject.toml reads it from here
