"""The `kanjinet` command: one subcommand per stage, each a thin layer over a library function.

Every subcommand is a row of COMMANDS: the module holding it, its settings
dataclass and its `run_*` function (settings -> exit status). Modules are
imported only for the command that runs, so `kanjinet --help` stays instant,
`kanjinet synth` never imports torch, and `predict`, `serve`, `web-build` and
`onnx-info` run on the plain install (no `[train]` extra); a command whose extra is
missing says which one to install (`EXTRA_OF_MODULE`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from kanjinet.core.errors import KanjinetError, describe_os_error
from kanjinet.core.options import add_arguments, config_from_args
from kanjinet.core.version import __version__


@dataclass(frozen=True)
class Command:
    module: str  # kanjinet.<module>
    config: str  # settings dataclass in it
    run: str  # function(config) -> exit status
    help: str
    original_script: str = ""  # the original scripts' name for it (a root-level alias)
    # What that alias takes, if more than the command: kanjinet.script_aliases's settings
    # dataclass and run function.
    original_config: str = ""
    original_run: str = ""
    # Run after a successful run with the same settings ("module:function" -> exit status):
    # how `train --export-onnx` exports without training importing export.
    then: str = ""


COMMANDS: dict[str, Command] = {
    "synth": Command(
        "synthesis.synth",
        "SynthConfig",
        "run_synth",
        "write synthetic ETL9G-format files from KanjiVG strokes",
    ),
    "check": Command(
        "check",
        "CheckConfig",
        "run_check",
        "preflight: packages, devices, memory, disk and the ETL9G files",
        "preflight_check.py",
    ),
    "prepare": Command(
        "data.prepare",
        "PrepareConfig",
        "run_prepare",
        "convert ETL9G files to normalised training arrays",
        "prepare_etl9g_dataset.py",
    ),
    "inspect": Command(
        "inspect",
        "InspectConfig",
        "run_inspect",
        "verify a prepared dataset (statistics, sample grid, 田) and the model",
        "test_etl9g_setup.py",
    ),
    "train": Command(
        "training.train",
        "TrainConfig",
        "run_train",
        "train the recogniser",
        "train_etl9g_model.py",
        then="export.exporter:export_trained_run",
    ),
    "evaluate": Command(
        "training.evaluate",
        "EvaluateConfig",
        "run_evaluate",
        "top-k accuracy and confusions of a model",
    ),
    "export": Command(
        "export.exporter",
        "ExportConfig",
        "run_export",
        "export a checkpoint to verified ONNX plus the class mapping",
        "convert_to_onnx.py",
        "OriginalExportConfig",
        "run_original_export",
    ),
    "onnx-info": Command(
        "export.onnx_info",
        "OnnxInfoConfig",
        "run_onnx_info",
        "describe any ONNX file: opsets, inputs/outputs, ops, metadata, loadable backends",
    ),
    "predict": Command(
        "inference.predict",
        "PredictConfig",
        "run_predict",
        "recognise the character in image files",
    ),
    "read": Command(
        "inference.read",
        "ReadConfig",
        "run_read",
        "read the word or line written in image files (kanji, kana; horizontal or vertical)",
    ),
    "serve": Command(
        "web.serve",
        "ServeConfig",
        "run_serve",
        "draw a character in the browser, recognised in WASM",
    ),
    "web-build": Command(
        "web.web_build",
        "WebBuildConfig",
        "run_web_build",
        "write the browser demo as static files",
    ),
}


def _load(command: Command, original: bool = False) -> tuple[type, object]:
    """(settings dataclass, run function) of a command, or of its original script's alias."""
    if original and command.original_config:
        aliases = importlib.import_module("kanjinet.script_aliases")
        return getattr(aliases, command.original_config), getattr(aliases, command.original_run)
    module = importlib.import_module(f"kanjinet.{command.module}")
    return getattr(module, command.config), getattr(module, command.run)


def build_parser(selected: str | None, original: bool = False) -> argparse.ArgumentParser:
    """The parser; only the selected subcommand's flags are built (importing its module)."""
    parser = argparse.ArgumentParser(
        prog="kanjinet",
        description="Train a handwritten-kanji recogniser on ETL9G and export it to ONNX.",
    )
    parser.add_argument("--version", action="version", version=f"kanjinet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        extra = f" (was {command.original_script})" if command.original_script else ""
        subparser = sub.add_parser(name, help=command.help + extra, description=command.help)
        if name == selected:
            config_cls, _ = _load(command, original)
            add_arguments(subparser, config_cls)
    return parser


def use_utf8_output() -> None:
    """Write stdout and stderr as UTF-8 whatever the console or locale: on Windows, pipes and
    redirected files otherwise get the ANSI code page (cp1252), which has no kanji."""
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or ""
        if hasattr(stream, "reconfigure") and encoding.replace("-", "").lower() != "utf8":
            stream.reconfigure(encoding="utf-8")
        if hasattr(stream, "reconfigure"):
            # A path whose name is not valid UTF-8 prints as \udcXX, never as a traceback.
            stream.reconfigure(errors="backslashreplace")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = f"kanjinet: warning: {message}"
    try:  # tqdm.write: above a live progress bar, never on its line
        from tqdm import tqdm
    except ImportError:  # the plain install (no [train] extra) draws no progress bars
        print(text, file=sys.stderr)
        return
    tqdm.write(text, file=sys.stderr)


#: The extra that brings each optional package: `pip install "kanjinet[EXTRA]"`.
EXTRA_OF_MODULE = {
    "torch": "train",
    "tqdm": "train",
    "psutil": "train",
    "matplotlib": "train",
    "kanji": "train",  # the kanjivg package's stroke data
    "onnxscript": "train",
    "safetensors": "train",
    "tract": "tract",
}


def missing_extra(command: str, error: ModuleNotFoundError) -> str | None:
    """One line naming the extra to install, if `error` is an optional package's absence."""
    module = (error.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    return (
        f"kanjinet {command}: error: needs the Python package {module}, which this installation "
        f'lacks: pip install "kanjinet[{extra}]"'
    )


def main(argv: list[str] | None = None, original: bool = False) -> int:
    """Entry point: parse, run, and turn a KanjinetError or OSError into one line, status 2.

    `original`: called by an original script's alias, which may take a few more flags."""
    use_utf8_output()
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    if selected not in COMMANDS:
        selected = None
    try:
        return _parse_and_run(argv, selected, original)
    except ModuleNotFoundError as error:
        message = setup_hint(error) if original else missing_extra(selected or "", error)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2


def _parse_and_run(argv: list[str], selected: str | None, original: bool) -> int:
    """Parse (importing the selected command's module) and run, errors as one line."""
    parser = build_parser(selected, original)
    args = parser.parse_args(argv)
    command = COMMANDS[args.command]
    config_cls, run = _load(command, original)
    warnings.showwarning = _show_warning
    try:
        config = config_from_args(config_cls, args)
        status = int(run(config) or 0)
        return _run_then(command, config) if status == 0 else status
    except KanjinetError as error:
        print(f"kanjinet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the environment's (permissions, disk), caught once here
        print(f"kanjinet {args.command}: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kanjinet {args.command}: interrupted", file=sys.stderr)
        return 130


def _run_then(command: Command, config: object) -> int:
    """The command's follow-up step (`Command.then`), if it has one."""
    if not command.then:
        return 0
    module, function = command.then.split(":")
    return int(getattr(importlib.import_module(f"kanjinet.{module}"), function)(config) or 0)


def setup_hint(error: ModuleNotFoundError) -> str | None:
    """One line for an original script's alias run by a Python that lacks a package: how
    to set up the checkout's .venv and run the script with it."""
    module = (error.name or "").split(".")[0]
    if not module or module == "kanjinet":
        return None
    script = Path(sys.argv[0]).name
    windows = sys.platform == "win32"
    setup = "py dev.py setup" if windows else "python3 dev.py setup"
    python = r".venv\Scripts\python" if windows else ".venv/bin/python"
    return (
        f"{script}: error: needs the Python package {module}, which this Python "
        f"({sys.executable}) lacks; set up once with `{setup}`, then run `{python} {script}`"
    )


def run_original_script(command: str) -> None:
    """Body of the original scripts' names at the repository root (thin aliases)."""
    raise SystemExit(main([command, *sys.argv[1:]], original=True))
