"""The reference model shipped inside the package, and what a model says it was trained on.

`kanjinet predict` and `kanjinet serve` use the reference model when no `--model` is
given, so a fresh install recognises all 3,036 characters before any training. It was
trained on SYNTHETIC ETL9G-format data (`kanjinet synth`), never on ETL9G itself: its
model card is `models/README.md` beside this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kanjinet.core.errors import KanjinetError

MODELS_DIR = Path(__file__).parents[1] / "models"
REFERENCE_MODEL = MODELS_DIR / "kanji_etl9g_model.onnx"
REFERENCE_INT8_MODEL = MODELS_DIR / "kanji_etl9g_model.int8.onnx"
REFERENCE_MAPPING = MODELS_DIR / "kanji_etl9g_mapping.json"


#: The models shipped with kanjinet, by the name `--model` takes (the class set each knows).
SHIPPED_MODELS = {
    "etl9g": REFERENCE_MODEL,
    "etl9g+katakana": MODELS_DIR / "kanji_etl9g_katakana_model.onnx",  # + 46 katakana
    "read": MODELS_DIR / "kanji_read_model.onnx",  # + 74 full-size katakana and ー
}
#: The shipped model `kanjinet read` and the word pad use by default: it must know kana and
#: kanji (small kana come from reading's rules; ー and 一 are one stroke the line decides).
READ_MODEL = "read"
SHIPPED_HELP = "a shipped model's name (" + ", ".join(SHIPPED_MODELS) + ")"


def model_or_reference(model: Path | str | None) -> Path:
    """The model a command runs: the file given, a shipped model by name (a file of that
    name wins), else the shipped reference model."""
    if model is not None and (str(model) not in SHIPPED_MODELS or Path(model).exists()):
        return Path(model)
    name = "etl9g" if model is None else str(model)
    path = SHIPPED_MODELS[name]
    if not path.is_file():
        raise KanjinetError(
            f"{path}: the shipped model {name!r} is missing from this installation; "
            "pass --model FILE"
        )
    return path


def training_summary(model_info: dict[str, Any] | None) -> str:
    """One phrase for people: what the model was trained on, from a mapping's model_info."""
    if not isinstance(model_info, dict) or "synthetic_data" not in model_info:
        return "training data not recorded"
    if model_info["synthetic_data"]:
        return "trained on SYNTHETIC ETL9G-format data (kanjinet synth), not on ETL9G"
    return f"trained on {model_info.get('dataset') or 'ETL9G'}"
