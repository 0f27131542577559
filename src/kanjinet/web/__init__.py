"""The browser demo: `kanjinet serve` / `web-build` and the page's files (HTML, CSS,
JavaScript, onnxruntime-web).

Imports `core` and `inference`.
"""
