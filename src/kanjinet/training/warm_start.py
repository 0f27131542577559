"""Start a training run from an earlier run's weights (`kanjinet train --init-from`).

The earlier model must be the same network (preset, input size, pooling); only its class
table may differ. Every tensor is copied, except the last layer's rows, which are matched
by JIS code: a class both tables hold keeps its trained row, a class only the new table
holds keeps its fresh initialisation. So a 3,036-class model grows to etl9g+katakana
without forgetting its kanji, and the new rows learn from the first step.

The earlier model may also be an exported kanjinet ONNX file (the shipped models have no
checkpoint). Its network and class table come from the file's metadata; its Conv and Gemm
weights are copied, in graph order, onto the network's convolutions and linear layers. The
export folded each BatchNorm into the convolution before it, so those BatchNorms become
identities carrying the folded bias, and the run keeps them in eval mode
(`freeze_batchnorm`): batch statistics would undo the folded scales.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kanjinet.core.errors import KanjinetError
from kanjinet.training.checkpoint import load_weights
from kanjinet.training.model import ModelConfig


@dataclass(frozen=True)
class WarmStart:
    classes_kept: int  # classes whose last-layer row came from the earlier model
    classes_new: int  # classes that start from a fresh row


def last_linear_name(model: nn.Module) -> str:
    """The name of the network's output layer (its last nn.Linear)."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise KanjinetError("the model has no linear output layer to match classes on")
    return names[-1]


#: ModelConfig fields not compared field by field: the preset (checked first), the class
#: count (rows are matched) and dropout (it holds no weights).
FREE_FIELDS = frozenset({"arch", "num_classes", "dropout", "hidden_dropout"})


def network_mismatch(old: ModelConfig, new: ModelConfig) -> str | None:
    """How the two networks differ apart from their class count and dropout, or None."""
    if old.arch != new.arch:
        return f"a {old.arch!r} model, this run trains {new.arch!r}"
    for field in dataclasses.fields(ModelConfig):
        before, after = getattr(old, field.name), getattr(new, field.name)
        if field.name not in FREE_FIELDS and before != after:
            return f"its {field.name} is {before!r}, this run's is {after!r}"
    return None


def row_map(old_jis: list[int], new_jis: list[int]) -> tuple[list[int], list[int]]:
    """(new rows, old rows) of the classes both tables hold, in new-table order."""
    old_row = {code: row for row, code in enumerate(old_jis)}
    pairs = [(new, old_row[code]) for new, code in enumerate(new_jis) if code in old_row]
    return [new for new, _ in pairs], [old for _, old in pairs]


def is_onnx(path: str | os.PathLike | None) -> bool:
    """Whether `--init-from` names an exported ONNX file rather than a checkpoint."""
    return path is not None and Path(path).suffix.lower() == ".onnx"


@dataclass
class Earlier:
    """An earlier model as warm start reads it: its network, class table and weights."""

    model_config: ModelConfig
    class_jis: list[int]
    model: nn.Module


def onnx_metadata(graph_file, path: str | os.PathLike) -> tuple[ModelConfig, list[int]]:
    """The network and class table an exported kanjinet ONNX file records."""
    meta = {prop.key: prop.value for prop in graph_file.metadata_props}
    try:
        model_cfg = ModelConfig.from_dict(json.loads(meta["kanjinet.model_config"]))
        class_jis = [int(code, 16) for code in json.loads(meta["kanjinet.class_jis"])]
    except (KeyError, ValueError, TypeError) as error:
        raise KanjinetError(
            f"--init-from {path}: not a kanjinet ONNX export (its metadata lacks {error})"
        ) from None
    return model_cfg, class_jis


def onnx_layers(graph_file, path: str | os.PathLike) -> list[tuple[str, list[np.ndarray]]]:
    """(op, [weight, bias]) of each Conv and Gemm node, in graph order."""
    from onnx import numpy_helper

    weights = {init.name: numpy_helper.to_array(init) for init in graph_file.graph.initializer}
    layers = []
    for node in graph_file.graph.node:
        if node.op_type not in ("Conv", "Gemm"):
            continue
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "Gemm" and (attrs.get("transB") is None or attrs["transB"].i != 1):
            raise KanjinetError(f"--init-from {path}: a Gemm without transB=1 ({node.name})")
        missing = [name for name in node.input[1:] if name not in weights]
        if missing:
            raise KanjinetError(
                f"--init-from {path}: {node.name}'s weight {missing[0]} is computed"
            )
        layers.append((node.op_type, [weights[name] for name in node.input[1:]]))
    return layers


def weighted_layers(model: nn.Module) -> list[tuple[nn.Module, nn.BatchNorm2d | None]]:
    """Each convolution and linear layer of `model` in order, with the BatchNorm after it."""
    pairs: list[list] = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            pairs.append([module, None])
        elif isinstance(module, nn.BatchNorm2d) and pairs and pairs[-1][1] is None:
            pairs[-1][1] = module
    return [(layer, norm) for layer, norm in pairs]


def fill_layer(
    layer: nn.Module, norm: nn.BatchNorm2d | None, tensors: list[np.ndarray], where: str
) -> None:
    """Copy a folded node's weight (and bias) into `layer`; its BatchNorm becomes the bias."""
    weight = tensors[0]
    bias = tensors[1] if len(tensors) > 1 else np.zeros(weight.shape[0], dtype=weight.dtype)
    if tuple(weight.shape) != tuple(layer.weight.shape):
        raise KanjinetError(
            f"{where}: weight {tuple(weight.shape)} where the network has "
            f"{tuple(layer.weight.shape)}"
        )
    layer.weight.copy_(torch.from_numpy(weight.copy()))
    if norm is None and layer.bias is None:
        raise KanjinetError(f"{where}: a bias with nowhere to go in the network")
    target = layer.bias if norm is None else norm.bias
    if tuple(bias.shape) != tuple(target.shape):
        raise KanjinetError(
            f"{where}: bias {tuple(bias.shape)}, the network's {tuple(target.shape)}"
        )
    target.copy_(torch.from_numpy(bias.copy()))
    if norm is not None:  # identity: (x - 0) / sqrt(1 - eps + eps) * 1 + bias
        norm.weight.fill_(1.0)
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)


def load_onnx(path: str | os.PathLike) -> Earlier:
    """A kanjinet network holding the weights of an exported ONNX file."""
    import onnx

    from kanjinet.training.model import build_model

    try:
        graph_file = onnx.load(str(path))
    except Exception as error:  # onnx raises DecodeError, OSError, ... for a bad file
        raise KanjinetError(f"--init-from {path}: not a readable ONNX file ({error})") from None
    model_cfg, class_jis = onnx_metadata(graph_file, path)
    model = build_model(model_cfg)
    layers, targets = onnx_layers(graph_file, path), weighted_layers(model)
    if len(layers) != len(targets):
        raise KanjinetError(
            f"--init-from {path}: {len(layers)} Conv/Gemm nodes, the {model_cfg.arch} "
            f"network has {len(targets)} layers"
        )
    with torch.no_grad():
        for number, ((op, tensors), (layer, norm)) in enumerate(zip(layers, targets, strict=True)):
            expected = "Gemm" if isinstance(layer, nn.Linear) else "Conv"
            where = f"--init-from {path}: node {number + 1} ({op})"
            if op != expected:
                raise KanjinetError(f"{where}: the network has a {expected} there")
            fill_layer(layer, norm, tensors, where)
    return Earlier(model_cfg, class_jis, model)


def freeze_batchnorm(model: nn.Module) -> None:
    """Keep every BatchNorm in eval mode (its running statistics, not the batch's, are used
    and never updated); called after each `model.train()` of a run started from ONNX."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def load_earlier(path: str | os.PathLike) -> Earlier:
    if is_onnx(path):
        return load_onnx(path)
    weights = load_weights(path)
    return Earlier(weights.model_config, weights.class_jis, weights.model)


def warm_start(
    model: nn.Module, model_cfg: ModelConfig, class_jis: list[int], path: str | os.PathLike
) -> WarmStart:
    """Copy the weights of the checkpoint or ONNX export at `path` into `model` (in place)."""
    earlier = load_earlier(path)
    problem = network_mismatch(earlier.model_config, model_cfg)
    if problem:
        raise KanjinetError(f"--init-from {path}: not the same network: {problem}")
    new_rows, old_rows = row_map(earlier.class_jis, class_jis)
    if not new_rows:
        raise KanjinetError(f"--init-from {path}: shares no class with this dataset")
    head = last_linear_name(model) + "."
    source = earlier.model.state_dict()
    target = model.state_dict()
    with torch.no_grad():
        for name, tensor in target.items():
            if name.startswith(head):
                tensor[new_rows] = source[name][old_rows].to(tensor.dtype)
            else:
                tensor.copy_(source[name])
    return WarmStart(len(new_rows), len(class_jis) - len(new_rows))
