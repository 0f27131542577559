"""kanjinet: handwritten-kanji recognition from ETL9G, exported to ONNX for tract / WebAssembly."""

__version__ = "0.1.0"
