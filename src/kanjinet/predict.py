"""Recognise the character in image files: top-k characters with probabilities.

`kanjinet predict --model kanji_etl9g_model.onnx IMAGE...` reads each picture (any
size, dark ink on light paper or the reverse: the polarity is detected), turns it
into model input with THE normalisation that `prepare` used (`normalize.py`) and
runs it in onnxruntime, tract (the engine of the Rust / WebAssembly app) or
PyTorch (a `.pth` checkpoint or the `.safetensors` that `export` writes).

The engines here (`open_engine`) are also what `export` verifies with and what
`bench/bench_inference.py` times. torch, onnxruntime and tract are imported only
by the engine that needs them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kanjinet.errors import KanjinetError
from kanjinet.options import opt

Engine = Literal["auto", "onnxruntime", "tract", "torch"]
ONNX_SUFFIXES = (".onnx",)
TORCH_SUFFIXES = (".pth", ".pt", ".safetensors")
NNEF_SUFFIX = ".nnef.tgz"  # tract's NNEF archive (`export --format nnef`)
#: ONNX metadata_props keys written by `export` (the model describes itself).
META_CLASS_JIS = "kanjinet.class_jis"
META_IMAGE_SIZE = "kanjinet.image_size"


@dataclass
class PredictConfig:
    images: list[Path] = opt(
        [], help="picture files (PNG/JPEG...) of one character each", positional=True, nargs="+"
    )
    model: Path = opt(
        Path("kanji_etl9g_model.onnx"),
        help="an ONNX file from `kanjinet export`, a .pth checkpoint or a .safetensors export",
        aliases=["--model-path"],
    )
    top_k: int = opt(5, help="how many candidates to print per image")
    engine: Engine = opt(
        "auto", help="inference engine; auto: onnxruntime for .onnx, torch otherwise"
    )
    json: bool = opt(False, help="print one JSON document instead of a table")


@dataclass(frozen=True)
class Candidate:
    char: str
    probability: float
    index: int  # model output index
    jis: str  # JIS X 0208 code, hex
    unicode: str  # code point, hex

    def as_dict(self) -> dict[str, Any]:
        return {
            "char": self.char,
            "probability": round(self.probability, 6),
            "index": self.index,
            "jis": self.jis,
            "unicode": self.unicode,
        }


# --- engines: float32 (B, 1, S, S) -> logits (B, C) -------------------------------------


class OnnxruntimeEngine:
    name = "onnxruntime"

    def __init__(self, path: Path) -> None:
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no "removing unused initializer" chatter
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
            raise KanjinetError(
                f"{path}: onnxruntime cannot load it ({_first_line(error)})"
            ) from None
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]


class TractEngine:
    """tract (PyPI `tract`, the engine of the Rust/WASM app). `batch` fixes the batch size
    in the input fact, which lets tract optimise for it (batch 1 roughly twice as fast);
    None keeps the file's symbolic batch axis so any batch runs."""

    name = "tract"

    def __init__(self, path: Path, batch: int | None = None) -> None:
        tract = require("tract")
        try:
            model = tract.onnx().load(str(path))
            if batch is not None:
                model.set_input_fact(0, _fixed_batch_fact(str(model.input_fact(0)), batch))
            self.runnable = model.into_model().into_runnable()
        except tract.TractError as error:
            raise KanjinetError(f"{path}: tract cannot load it ({_first_line(error)})") from None

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.runnable.run([np.ascontiguousarray(batch)])[0].to_numpy()


class TractNnefEngine(TractEngine):
    """tract on an NNEF archive (`export --format nnef`), loaded with `tract.nnef()` alone: what
    an app built on tract-core + tract-nnef (no ONNX parser) runs. `batch` binds the symbolic
    batch of a dynamic-batch archive; a batch-1 archive is already fixed."""

    name = "tract-nnef"

    def __init__(self, path: Path, batch: int | None = None) -> None:
        tract = require("tract")
        try:
            model = tract.nnef().load(str(path))
            symbol = str(model.input_fact(0)).split(",")[0]
            if batch is not None and not symbol.isdigit():
                model.transform(tract.SetSymbols({symbol: batch}))
            self.runnable = model.into_runnable()
        except tract.TractError as error:
            raise KanjinetError(
                f"{path}: tract cannot load it as NNEF ({_first_line(error)})"
            ) from None


class TorchEngine:
    name = "torch"

    def __init__(self, path: Path, device: str | None = None) -> None:
        import torch

        from kanjinet.checkpoint import load_checkpoint

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if path.suffix == ".safetensors":
            from kanjinet.export import load_safetensors

            checkpoint = load_safetensors(path, device=self.device)
        else:
            checkpoint = load_checkpoint(path, device=self.device)
        self.model = checkpoint.model.eval()
        self.class_jis = list(checkpoint.class_jis)
        self.image_size = checkpoint.model_config.image_size
        self.normalization = checkpoint.normalization

    def logits(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            return self.model(x).float().cpu().numpy()


def require(module: str) -> Any:
    """Import an optional engine, or say in one line how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise KanjinetError(f"{module}: package not installed (pip install {module})") from None


def _fixed_batch_fact(fact: str, batch: int) -> str:
    """'batch,1,64,64,f32' -> '1,1,64,64,f32': replace the first (batch) dimension."""
    parts = fact.split(",")
    return ",".join([str(batch), *parts[1:]])


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_engine(path: Path, engine: Engine = "auto", batch: int | None = None):
    """An engine with `.logits(float32 (B,1,S,S)) -> (B,C)` for a model file."""
    path = Path(path)
    if not path.is_file():
        raise KanjinetError(f"{path}: no such model file")
    if path.name.lower().endswith(NNEF_SUFFIX):
        raise KanjinetError(
            f"{path}: an NNEF archive is for apps on tract-nnef; predict with the .onnx "
            "exported beside it"
        )
    is_onnx = path.suffix.lower() in ONNX_SUFFIXES
    if engine == "auto":
        engine = "onnxruntime" if is_onnx else "torch"
    if engine == "torch":
        if is_onnx:
            raise KanjinetError(f"{path}: --engine torch needs a .pth or .safetensors model")
        return TorchEngine(path)
    if not is_onnx:
        raise KanjinetError(f"{path}: --engine {engine} needs an .onnx model")
    if engine == "tract":
        return TractEngine(path, batch)
    return OnnxruntimeEngine(path)


# --- model description: classes and input size -------------------------------------------


def load_onnx(path: Path) -> Any:
    """The ONNX graph of a file (without loading external weight files), or one error line."""
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as error:  # onnx raises DecodeError and friends for a foreign file
        raise KanjinetError(f"{path}: not a readable ONNX file ({_first_line(error)})") from None


def onnx_output_count(model: Any) -> int | None:
    """The number of classes the model's first output has, None if not fixed in the graph."""
    dims = model.graph.output[0].type.tensor_type.shape.dim if model.graph.output else []
    return int(dims[-1].dim_value) if dims and dims[-1].dim_value > 0 else None


@dataclass
class ModelDescription:
    class_jis: list[int]  # output index -> JIS X 0208 code
    image_size: int
    normalization: dict[str, Any] | None  # the recipe the training data went through


def describe_onnx(path: Path) -> ModelDescription:
    """Classes, input size and normalisation of an exported ONNX model: from its own
    metadata, else from the mapping file next to it (checked against the model's outputs)."""
    model = load_onnx(path)
    meta = {prop.key: prop.value for prop in model.metadata_props}
    if META_CLASS_JIS in meta and META_IMAGE_SIZE in meta:
        return ModelDescription(
            [int(c, 16) for c in json.loads(meta[META_CLASS_JIS])],
            int(meta[META_IMAGE_SIZE]),
            json.loads(meta["normalization"]) if "normalization" in meta else None,
        )
    mapping_file = mapping_path(path)
    if not mapping_file.is_file():
        raise KanjinetError(
            f"{path}: no kanjinet metadata in the model and no {mapping_file.name} next to it"
        )
    info = read_mapping(mapping_file)
    outputs = onnx_output_count(model)
    if outputs is not None and outputs != len(info.class_jis):
        raise KanjinetError(
            f"{mapping_file}: lists {len(info.class_jis)} classes, the model {path.name} has "
            f"{outputs} outputs; use the mapping exported with this model"
        )
    return info


def read_mapping(path: Path) -> ModelDescription:
    """A mapping file (`kanjinet export`'s *_mapping.json), checked for its shape."""
    from kanjinet.dataset import read_json

    mapping = read_json(path)
    try:
        count = int(mapping["num_classes"])
        table = mapping["class_to_jis"]
        if len(table) != count:
            raise ValueError(f"num_classes is {count}, class_to_jis has {len(table)} entries")
        class_jis = [int(table[str(i)], 16) for i in range(count)]
        size = int(mapping["input"]["shape"][-1])
        normalization = mapping["input"].get("normalization")
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise KanjinetError(f"{path}: not a kanjinet mapping file ({reason})") from None
    return ModelDescription(class_jis, size, normalization)


def mapping_path(model_path: Path) -> Path:
    """`X_model.onnx` -> `X_mapping.json` beside it (kanji_etl9g_model.onnx ->
    kanji_etl9g_mapping.json, the seed's names; the web demo uses the same rule)."""
    stem = model_path.stem.removesuffix("_model")
    return model_path.with_name(f"{stem}_mapping.json")


# --- pictures -> model input -------------------------------------------------------------


def read_picture(path: Path) -> np.ndarray:
    """A picture file as a float array: (H, W, 4) RGBA if it has transparency (read by
    `normalize.flatten_alpha`, as the browser reads it), else grayscale (H, W)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                return np.asarray(image.convert("RGBA"), dtype=np.float32)
            return np.asarray(image.convert("L"), dtype=np.float32)
    except FileNotFoundError:
        raise KanjinetError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError) as error:
        raise KanjinetError(f"{path}: not a readable image ({_first_line(error)})") from None


def pictures_to_input(pictures: list[np.ndarray], size: int) -> np.ndarray:
    """Pictures (any polarity, any size) -> float32 (N, 1, size, size), ink 1.0, the
    training input: `normalize(ink_from_picture(p))` / 255."""
    from kanjinet.normalize import ink_from_picture, normalize

    prepared = np.stack([normalize(ink_from_picture(p), size) for p in pictures])
    return prepared_to_input(prepared)


def prepared_to_input(prepared: np.ndarray) -> np.ndarray:
    """Prepared uint8 images (N, S, S), ink high -> float32 (N, 1, S, S) in 0..1."""
    return (np.asarray(prepared, dtype=np.float32) / 255.0)[:, None]


def warn_if_other_normalization(path: Path, recorded: dict[str, Any] | None) -> None:
    """Pictures go through this kanjinet's `normalize`; a model trained on data made by
    another version of the recipe may see slightly different input than it learned on."""
    import warnings

    from kanjinet.normalize import NORMALIZATION

    if recorded and recorded != NORMALIZATION:
        changed = sorted(
            k for k in set(recorded) | set(NORMALIZATION) if recorded.get(k) != NORMALIZATION.get(k)
        )
        warnings.warn(
            f"{path}: trained on data normalised differently from this kanjinet's recipe "
            f"({', '.join(changed)} differ); predictions may be less accurate",
            stacklevel=2,
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


# --- the predictor -----------------------------------------------------------------------


class Predictor:
    """A loaded model with its class table: images -> top-k candidates."""

    def __init__(self, model_path: Path, engine: Engine = "auto") -> None:
        self.path = Path(model_path)
        self.engine = open_engine(self.path, engine)
        if isinstance(self.engine, TorchEngine):
            info = ModelDescription(
                self.engine.class_jis, self.engine.image_size, self.engine.normalization
            )
        else:
            info = describe_onnx(self.path)
        self.class_jis, self.image_size = info.class_jis, info.image_size
        warn_if_other_normalization(self.path, info.normalization)

    def top_k_of_input(self, batch: np.ndarray, k: int = 5) -> list[list[Candidate]]:
        """Model input (N, 1, S, S) float32 -> per image, the k most probable classes."""
        probabilities = softmax(self.engine.logits(batch).astype(np.float64))
        k = max(1, min(k, probabilities.shape[1]))
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        return [
            [self.candidate(int(i), float(row[i])) for i in top]
            for row, top in zip(probabilities, order, strict=True)
        ]

    def predict_pictures(self, pictures: list[np.ndarray], k: int = 5) -> list[list[Candidate]]:
        """Grayscale pictures (H, W), any polarity -> top-k candidates each."""
        return self.top_k_of_input(pictures_to_input(pictures, self.image_size), k)

    def predict_files(self, paths: list[Path], k: int = 5) -> list[list[Candidate]]:
        return self.predict_pictures([read_picture(Path(p)) for p in paths], k)

    def candidate(self, index: int, probability: float) -> Candidate:
        from kanjinet.classes import jis_to_char

        jis = self.class_jis[index]
        char = jis_to_char(jis)
        return Candidate(char, probability, index, f"{jis:04X}", f"{ord(char):04X}")


def predict_files(
    paths: list[Path], model_path: Path, top_k: int = 5, engine: Engine = "auto"
) -> list[list[Candidate]]:
    """Library entry point: top-k candidates for each picture file."""
    return Predictor(model_path, engine).predict_files(paths, top_k)


def format_table(paths: list[Path], results: list[list[Candidate]]) -> str:
    lines = []
    for path, candidates in zip(paths, results, strict=True):
        ranked = "  ".join(f"{c.char} {c.probability:6.1%}" for c in candidates)
        lines.append(f"{path}: {ranked}")
    return "\n".join(lines)


def run_predict(cfg: PredictConfig) -> int:
    if not cfg.images:
        raise KanjinetError("predict: no image files given")
    if cfg.top_k < 1:
        raise KanjinetError(f"--top-k {cfg.top_k}: must be at least 1")
    predictor = Predictor(cfg.model, cfg.engine)
    results = predictor.predict_files(cfg.images, cfg.top_k)
    if cfg.json:
        document = {
            "model": str(cfg.model),
            "engine": predictor.engine.name,
            "results": [
                {"image": str(p), "top_k": [c.as_dict() for c in cands]}
                for p, cands in zip(cfg.images, results, strict=True)
            ],
        }
        json.dump(document, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        print(format_table(cfg.images, results))
    return 0
