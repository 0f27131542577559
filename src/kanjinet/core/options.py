"""Settings dataclasses to command-line flags, so each stage's settings are defined once.

A stage declares `@dataclass class XConfig` whose fields use `opt(default, help)`;
the CLI turns every field into a flag (`etl_dir` -> `--etl-dir`) with its default
shown in `--help`. Library code takes the dataclass and never sees argv.

Value limits live on the field too (`opt(64, "...", min=1)`) and are checked by one
function, `check_settings`, which each settings class calls from `__post_init__`:
a bad value is a one-line KanjinetError whoever builds the settings (CLI or code).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal

from kanjinet.core.errors import KanjinetError

#: Value limits a field may carry in its metadata; read only by `check_settings`.
#: `at_most` names another field of the same settings whose value bounds this one.
LIMIT_KEYS = ("min", "max", "above", "below", "at_most")


def opt(default: Any = dataclasses.MISSING, help: str = "", **meta: Any) -> Any:
    """A dataclass field carrying its CLI metadata.

    meta keys: `flag` (override the flag name), `aliases` (extra flag names, e.g. a
    original script's spelling), `positional` (a positional argument), `nargs`,
    `choices`, `metavar`, `cli=False` (not a flag at all), and the value limits
    `min` / `max` (inclusive), `above` / `below` (exclusive), `at_most` (the name of
    another field this one may not exceed), checked by `check_settings`.
    """
    meta["help"] = help
    if isinstance(default, list | dict):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _converter(tp: Any) -> tuple[Any, list[Any] | None]:
    """(type callable, choices) for a field's annotation."""
    if typing.get_origin(tp) is Literal:
        choices = list(typing.get_args(tp))
        return type(choices[0]), choices
    if tp in (int, float, str, Path):
        return tp, None
    raise TypeError(f"unsupported settings field type {tp!r}")


def add_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Add one flag (or positional) per field of the dataclass `config_cls`."""
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        meta = {k: v for k, v in field.metadata.items() if k not in LIMIT_KEYS}
        if meta.pop("cli", True) is False:
            continue
        tp, _ = _unwrap_optional(hints[field.name])
        default = (
            field.default_factory()  # type: ignore[misc]
            if field.default_factory is not dataclasses.MISSING
            else field.default
        )
        kwargs: dict[str, Any] = {"help": meta.pop("help", ""), "dest": field.name}
        names = [meta.pop("flag", "--" + field.name.replace("_", "-"))] + meta.pop("aliases", [])
        nargs = meta.pop("nargs", None)
        if typing.get_origin(tp) is list:
            (tp,) = typing.get_args(tp)
            nargs = nargs or "*"
        if tp is bool:
            kwargs["action"] = "store_true" if default is False else argparse.BooleanOptionalAction
        else:
            kwargs["type"], kwargs["choices"] = _converter(tp)
            if nargs:
                kwargs["nargs"] = nargs
        if meta.pop("positional", False):
            names = []
            kwargs["metavar"] = meta.pop("metavar", field.name.upper())
            del kwargs["dest"]
            parser.add_argument(field.name, **kwargs, **meta)
            continue
        if default is dataclasses.MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
            if kwargs.get("action") != "store_true":
                kwargs["help"] += " (default: %(default)s)"
        parser.add_argument(*names, **kwargs, **meta)


def config_from_args(config_cls: type, args: argparse.Namespace) -> Any:
    """Build the dataclass from parsed flags (only fields that are flags)."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(config_cls)
        if f.metadata.get("cli", True) is not False and hasattr(args, f.name)
    }
    return config_cls(**values)


def flag_name(field: dataclasses.Field) -> str:
    """How a settings field is spelled on the command line (`batch_size` -> `--batch-size`)."""
    if field.metadata.get("positional"):
        return field.name.upper()
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def limit_problem(value: float, meta: Any) -> str | None:
    """Why a number breaks its field's limits (NaN and infinity always do), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    wants = []
    if "min" in meta and value < meta["min"]:
        wants.append(f"at least {meta['min']}")
    if "above" in meta and value <= meta["above"]:
        wants.append(f"more than {meta['above']}")
    if "max" in meta and value > meta["max"]:
        wants.append(f"at most {meta['max']}")
    if "below" in meta and value >= meta["below"]:
        wants.append(f"less than {meta['below']}")
    return f"must be {' and '.join(wants)}" if wants else None


def check_settings(config: Any) -> None:
    """Raise a one-line KanjinetError for the first field outside its limits.

    The one place value checks live: every settings dataclass calls it from `__post_init__`.
    """
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue  # None (= not set), paths, strings: nothing to bound
        problem = limit_problem(value, field.metadata) or relation_problem(config, field)
        if problem:
            raise KanjinetError(f"{flag_name(field)} {value}: {problem}")


def relation_problem(config: Any, field: dataclasses.Field) -> str | None:
    """Why a field exceeds the other field its `at_most` names, or None."""
    if "at_most" not in field.metadata:
        return None
    other = next(f for f in dataclasses.fields(config) if f.name == field.metadata["at_most"])
    bound = getattr(config, other.name)
    if bound is None or getattr(config, field.name) <= bound:
        return None
    return f"must be at most {flag_name(other)} ({bound})"
