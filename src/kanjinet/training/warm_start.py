"""Start a training run from an earlier run's weights (`kanjinet train --init-from`).

The earlier model must be the same network (preset, input size, pooling); only its class
table may differ. Every tensor is copied, except the last layer's rows, which are matched
by JIS code: a class both tables hold keeps its trained row, a class only the new table
holds keeps its fresh initialisation. So a 3,036-class model grows to etl9g+katakana
without forgetting its kanji, and the new rows learn from the first step.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

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


def warm_start(
    model: nn.Module, model_cfg: ModelConfig, class_jis: list[int], path: str | os.PathLike
) -> WarmStart:
    """Copy the weights of the checkpoint at `path` into `model` (in place)."""
    earlier = load_weights(path)
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
