"""Self-describing checkpoints: everything `evaluate`, `export` and `predict` need in one file.

A checkpoint is `torch.save` of plain types and tensors, so it loads with
`weights_only=True` (no pickled code):

    {"format": "kanjinet-checkpoint", "version": 1,
     "model_config": dict, "state_dict": {name: tensor},
     "class_jis": [int]   output index -> JIS X 0208 code,
     "normalization": dict, "train_config": dict, "metrics": dict,
     "dataset": {"name": str, "digest": str}}   (optional: older checkpoints lack it)

The training run's last-epoch checkpoint adds `"resume": {...}` (optimizer,
RNG, epoch, best-so-far, history). Files are written atomically (temporary
file + os.replace) so a killed run never leaves a half-written checkpoint.

The same contents without pickle: `save_safetensors` writes the weights as
.safetensors with the rest as JSON strings in its metadata (what `export
--format safetensors` writes). `load_weights` reads either kind.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kanjinet.core.atomic import atomic_path
from kanjinet.core.classes import table_index
from kanjinet.core.errors import KanjinetError, first_line
from kanjinet.data.dataset import MAX_SIZE, MIN_SIZE
from kanjinet.training.model import LightweightKanjiNet, ModelConfig, build_model

FORMAT = "kanjinet-checkpoint"
VERSION = 1
SAFETENSORS_FORMAT = "kanjinet-safetensors"


@dataclass
class Checkpoint:
    model: LightweightKanjiNet  # rebuilt from the file, eval mode, on the requested device
    model_config: ModelConfig
    class_jis: list[int]  # output index -> JIS X 0208 code
    normalization: dict[str, Any]
    train_config: dict[str, Any]
    metrics: dict[str, Any]
    resume: dict[str, Any] = field(default_factory=dict)  # empty unless a resume checkpoint
    dataset: dict[str, str] = field(default_factory=dict)  # dataset.identity; {} if older
    path: Path | None = None

    @property
    def class_indices(self) -> list[int]:
        """Output index -> label in `classes.table_jis` (the 3,036 ETL9G classes first)."""
        position = table_index()
        return [position[code] for code in self.class_jis]


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights as contiguous CPU tensors (saving never pins a device)."""
    return {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to memory, then to a temporary file in the same directory, renamed over
    `path`. Written by Python rather than by torch's zip writer, a full disk is an OSError
    naming `path` (torch reports it as RuntimeError "unexpected pos")."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())  # a checkpoint must survive a power cut, not only a kill
    except OSError as error:
        if error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from None


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    model_config: ModelConfig,
    class_jis: list[int],
    normalization: dict[str, Any],
    train_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    resume: dict[str, Any] | None = None,
    dataset: dict[str, str] | None = None,
) -> Path:
    """Write a self-describing checkpoint atomically; returns its path."""
    if len(class_jis) != model_config.num_classes:
        raise ValueError(
            f"class_jis has {len(class_jis)} entries for {model_config.num_classes} outputs"
        )
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model_config.to_dict(),
        "state_dict": cpu_state_dict(model),
        "class_jis": [int(c) for c in class_jis],
        "normalization": dict(normalization),
        "train_config": dict(train_config or {}),
        "metrics": dict(metrics or {}),
    }
    if resume is not None:
        payload["resume"] = resume
    if dataset:
        payload["dataset"] = dict(dataset)
    atomic_torch_save(payload, path)
    return Path(path)


def read_checkpoint_file(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict, validated, or a one-line KanjinetError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise KanjinetError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's message advises weights_only=False: loading a foreign file that way runs
        # whatever code it holds, so that advice is never passed on.
        raise KanjinetError(
            f"{path}: not a kanjinet checkpoint (it holds Python objects besides tensors "
            "and plain values, which kanjinet never unpickles)"
        ) from None
    except Exception as error:  # torch raises many types for a corrupt or foreign file
        raise KanjinetError(
            f"{path}: not a readable checkpoint ({type(error).__name__}: {first_line(error)})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise KanjinetError(
            f"{path}: not a kanjinet checkpoint (a bare state_dict from the original script "
            "lacks the model config and class table; retrain with `kanjinet train`)"
        )
    version = payload.get("version", 0)
    if not isinstance(version, int):
        raise KanjinetError(f"{path}: malformed checkpoint: version {version!r} is not a number")
    if version > VERSION:
        raise KanjinetError(
            f"{path}: checkpoint version {payload['version']} is newer than this kanjinet "
            f"reads ({VERSION})"
        )
    problem = payload_problem(payload) or nonfinite_problem(payload["state_dict"])
    if problem:
        raise KanjinetError(f"{path}: malformed checkpoint: {problem}")
    return payload


def payload_problem(payload: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's parts (each checked before anything uses it),
    or None."""
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not state:
        return "no state_dict (the weights)"
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        return "state_dict holds something besides named tensors"
    for key in ("normalization", "train_config", "metrics", "resume", "dataset"):
        if key in payload and not isinstance(payload[key], dict):
            return f"{key} is {type(payload[key]).__name__}, not a mapping"
    config = payload.get("model_config")
    if not isinstance(config, dict):
        return "no model config"
    return image_size_problem(config.get("image_size")) or class_table_problem(
        payload.get("class_jis"), config.get("num_classes")
    )


def image_size_problem(size: Any) -> str | None:
    """Why a stored input size is not one `prepare` makes, or None."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        return f"image_size {size!r} is not a side of {MIN_SIZE} to {MAX_SIZE} pixels"
    return None


def class_table_problem(class_jis: Any, outputs: Any) -> str | None:
    """Why `class_jis` is not a table of `outputs` known JIS X 0208 codes, or None."""
    if not isinstance(class_jis, list) or not class_jis:
        return "no class_jis table (output index -> JIS code)"
    for code in class_jis:
        if isinstance(code, bool) or not isinstance(code, int) or code not in table_index():
            return f"class_jis holds {code!r}, not a JIS X 0208 character code"
    if len(class_jis) != outputs:
        return f"class_jis has {len(class_jis)} entries for {outputs!r} outputs"
    return None


def nonfinite_problem(state: dict[str, torch.Tensor]) -> str | None:
    """Which weight holds NaN or infinity (a diverged run's model answers nonsense), or None."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return (
                f"weights that are not finite numbers (NaN or infinity) in {name}: "
                "a diverged training run; use an earlier checkpoint"
            )
    return None


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model (eval mode, on `device`) and its metadata from the file alone."""
    payload = read_checkpoint_file(path)
    cfg, model = rebuild_model(path, payload["model_config"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise KanjinetError(
            f"{path}: weights do not fit the stored model config ({str(error).splitlines()[0]})"
        ) from None
    model.to(device).eval()
    return Checkpoint(
        model=model,
        model_config=cfg,
        class_jis=list(payload["class_jis"]),
        normalization=dict(payload.get("normalization", {})),
        train_config=dict(payload.get("train_config", {})),
        metrics=dict(payload.get("metrics", {})),
        resume=dict(payload.get("resume", {})),
        dataset=dict(payload.get("dataset") or {}),
        path=Path(path),
    )


def rebuild_model(path: str | os.PathLike, config: dict[str, Any]) -> tuple[ModelConfig, nn.Module]:
    """The model a stored config describes (untrained), or one line naming the file."""
    try:
        cfg = ModelConfig.from_dict(config)
        return cfg, build_model(cfg)
    except (TypeError, KeyError, ValueError, RuntimeError) as error:
        raise KanjinetError(
            f"{path}: bad model config in checkpoint ({first_line(error)})"
        ) from None
    except KanjinetError as error:
        raise KanjinetError(f"{path}: {error}") from None


def save_safetensors(checkpoint: Checkpoint, path: Path) -> None:
    """Weights as .safetensors; the model config, class table, normalisation and metrics
    as JSON strings in its metadata (no pickle anywhere)."""
    from safetensors.torch import save_file

    metadata = {
        "format": SAFETENSORS_FORMAT,
        "version": "1",
        "model_config": json.dumps(checkpoint.model_config.to_dict()),
        "class_jis": json.dumps([int(c) for c in checkpoint.class_jis]),
        "normalization": json.dumps(checkpoint.normalization),
        "metrics": json.dumps(checkpoint.metrics, default=str),
        "train_config": json.dumps(checkpoint.train_config, default=str),
    }
    with atomic_path(path) as tmp:
        save_file(cpu_state_dict(checkpoint.model), str(tmp), metadata=metadata)


def load_safetensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """A `Checkpoint` rebuilt from a .safetensors written by `save_safetensors`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise KanjinetError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        state = load_file(str(path))
    except Exception as error:  # safetensors raises SafetensorError for a foreign file
        raise KanjinetError(
            f"{path}: not a readable safetensors file ({first_line(error)})"
        ) from None
    if meta.get("format") != SAFETENSORS_FORMAT:
        raise KanjinetError(f"{path}: not a kanjinet safetensors export (no model config)")
    problem = nonfinite_problem(state)
    if problem:
        raise KanjinetError(f"{path}: {problem}")
    cfg = ModelConfig.from_dict(json.loads(meta["model_config"]))
    model = build_model(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise KanjinetError(f"{path}: weights do not fit the stored model config") from error
    return Checkpoint(
        model=model.to(device).eval(),
        model_config=cfg,
        class_jis=json.loads(meta["class_jis"]),
        normalization=json.loads(meta["normalization"]),
        train_config=json.loads(meta.get("train_config", "{}")),
        metrics=json.loads(meta.get("metrics", "{}")),
        path=path,
    )


def load_weights(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """A checkpoint of either kind: .safetensors by its suffix, else a torch checkpoint."""
    if Path(path).suffix == ".safetensors":
        return load_safetensors(path, device)
    return load_checkpoint(path, device)
