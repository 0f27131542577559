import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

from kanjinet import cli
from kanjinet.check import CheckConfig, preflight
from kanjinet.core.options import add_arguments, config_from_args, opt

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class DemoConfig:
    data_dir: Path = opt(Path("dataset"), "prepared data", aliases=["--data"])
    epochs: int = opt(30, "epochs")
    export_onnx: bool = opt(False, "also export")
    progress: bool = opt(True, "show progress")
    backend: Literal["tract", "strict"] = opt("tract", "backend")
    limit: int | None = opt(None, "limit")
    images: list[Path] = opt([], "images", positional=True, nargs="+")


def parse(argv):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser, DemoConfig)
    return config_from_args(DemoConfig, parser.parse_args(argv))


def test_flags_are_built_from_the_settings_dataclass():
    config = parse(["a.png", "b.png"])
    assert config == DemoConfig(images=[Path("a.png"), Path("b.png")])
    config = parse(
        ["--data", "d", "--epochs", "3", "--export-onnx", "--no-progress", "--limit", "5", "x.png"]
    )
    assert config.data_dir == Path("d") and config.epochs == 3 and config.limit == 5
    assert config.export_onnx is True and config.progress is False
    with pytest.raises(SystemExit):
        parse(["--backend", "onnx", "x.png"])


def test_every_command_has_help_listing_flags_with_defaults(capsys):
    for name in ["synth", "check"]:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([name, "--help"])
        assert exit_info.value.code == 0
        assert "(default:" in capsys.readouterr().out


def test_top_level_help_does_not_import_torch():
    code = "import sys; from kanjinet.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\nassert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    assert "prepare" in result.stdout and "train" in result.stdout


def test_check_passes_on_synthetic_files_and_fails_on_a_bad_directory(small_etl_dir, tmp_path):
    report = preflight(CheckConfig(etl_dir=small_etl_dir, output_dir=tmp_path))
    assert not report.failed, report.lines
    assert any("SYNTHETIC" in line.detail for line in report.lines)
    (tmp_path / "ETL9G_01").write_bytes(b"\1" * 9000)
    report = preflight(CheckConfig(etl_dir=tmp_path, output_dir=tmp_path))
    assert report.failed
    assert any(line.what == "ETL9G_01" and line.status == "FAIL" for line in report.lines)
    assert cli.main(["check", "--etl-dir", str(tmp_path / "missing")]) == 1


def test_check_reports_a_broken_synthetic_description_as_a_failed_line(small_etl_dir, tmp_path):
    import shutil

    etl = tmp_path / "etl"
    shutil.copytree(small_etl_dir, etl)
    (etl / "kanjinet-synth.json").write_text("{broken", encoding="utf-8")
    report = preflight(CheckConfig(etl_dir=etl, output_dir=tmp_path))
    assert report.failed
    assert any("unreadable synthetic-set description" in line.detail for line in report.lines)


def test_original_script_alias_runs_the_subcommand(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "preflight_check.py"), "--etl-dir", str(tmp_path)],
        capture_output=True,
        encoding="utf-8",
    )
    assert result.returncode == 1
    assert "no ETL9G_NN files" in result.stdout
    assert "Traceback" not in result.stderr


def test_original_export_alias_takes_the_original_flags(tmp_path):
    """convert_to_onnx.py accepts --image-size / --num-classes (checked against the
    checkpoint); `kanjinet export` has no such flags."""
    missing = tmp_path / "missing.pth"
    result = subprocess.run(
        [sys.executable, str(ROOT / "convert_to_onnx.py"), "--model-path", str(missing)]
        + ["--image-size", "64", "--num-classes", "3036"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "missing.pth" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(SystemExit):
        cli.main(["export", "--model-path", str(missing), "--image-size", "64"])


def test_an_output_path_that_is_a_file_is_one_line(small_dataset_dir, tmp_path, capsys):
    taken = tmp_path / "some_file"
    taken.write_text("not a directory")
    argv = ["train", "--data-dir", str(small_dataset_dir), "--output-dir", str(taken)]
    assert cli.main([*argv, "--device", "cpu"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"kanjinet train: error: {taken}: exists and is not a directory"
    inside = ["--output-dir", str(taken / "sub")]
    assert cli.main(["train", "--data-dir", str(small_dataset_dir), *inside]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "a part of this path is a file" in line and str(taken) in line


def test_writing_over_a_directory_names_it_and_leaves_nothing(tmp_path):
    from kanjinet.core.atomic import write_json

    target = tmp_path / "report.json"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as error:
        write_json(target, {"a": 1})
    assert error.value.filename == str(target)
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left


@pytest.mark.parametrize(
    "error, line",
    [
        (OSError(28, "No space left on device", "/full/model.onnx"), "/full/model.onnx: no space"),
        (PermissionError(13, "Permission denied", "/etc/x"), "/etc/x: permission denied"),
        (OSError(30, "Read-only file system", "/ro/a.json"), "/ro/a.json: read-only file system"),
    ],
)
def test_os_errors_become_one_line_with_path_and_reason(monkeypatch, capsys, error, line):
    from kanjinet import check

    def failing(config):
        raise error

    monkeypatch.setattr(check, "run_check", failing)
    assert cli.main(["check"]) == 2
    (printed,) = capsys.readouterr().err.strip().splitlines()
    assert printed.startswith(f"kanjinet check: error: {line}")


def test_a_full_disk_while_writing_names_the_target(tmp_path):
    from kanjinet.core.atomic import atomic_path

    target = tmp_path / "model.pth"
    with pytest.raises(OSError) as error, atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")  # what a write on a full disk raises
    assert error.value.errno == 28 and error.value.filename == str(target)
    assert not list(tmp_path.iterdir())


def test_gitignore_keeps_the_database_and_what_is_made_from_it_out(tmp_path):
    import shutil

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = [
        "ETL9G/ETL9G_01",
        "ETL9G/ETL9INFO",
        "somewhere/ETL9G_07",
        "dataset/etl9g_dataset_chunk_001.npz",
        "dataset/metadata.json",
        "kanji_etl9g_model.onnx",
        "kanji_etl9g_mapping.json",
        "best_kanji_model.pth",
        "report/sample_grid.png",
        "worst_classes.png",
        "site/index.html",
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert sorted(result.stdout.split()) == sorted(paths)
    kept = subprocess.run(
        ["git", "check-ignore", "--no-index", "docs/sample_grid.png", "src/kanjinet/cli.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert kept.stdout == ""


ALIASES = [
    "train_etl9g_model.py",
    "prepare_etl9g_dataset.py",
    "convert_to_onnx.py",
    "test_etl9g_setup.py",
    "preflight_check.py",
]


@pytest.mark.parametrize("script", ALIASES)
def test_original_aliases_run_where_kanjinet_is_installed(script, tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / script), "--help"],
        capture_output=True,
        encoding="utf-8",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: kanjinet")


@pytest.mark.parametrize("script", ALIASES[:4])
def test_original_aliases_say_how_to_set_up_where_packages_are_missing(script, tmp_path):
    """A Python without the packages (here: no site-packages at all, -S, as a bare system
    Python) gets one line naming the package and the two commands, status 2."""
    result = subprocess.run(
        [sys.executable, "-S", str(ROOT / script), "--help"],
        capture_output=True,
        encoding="utf-8",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    setup = "py dev.py setup" if sys.platform == "win32" else "python3 dev.py setup"
    python = r".venv\Scripts\python" if sys.platform == "win32" else ".venv/bin/python"
    assert line.startswith(f"{script}: error: needs the Python package ")
    assert line.endswith(f"set up once with `{setup}`, then run `{python} {script}`")
    assert result.stdout == ""


def test_preflight_alias_runs_without_any_package(tmp_path):
    """`check` itself needs nothing beyond the standard library: it reports what is missing."""
    result = subprocess.run(
        [sys.executable, "-S", str(ROOT / "preflight_check.py"), "--etl-dir", str(tmp_path)],
        capture_output=True,
        encoding="utf-8",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "FAIL" in result.stdout


def test_docs_name_the_default_preset_the_code_has():
    """README and docs/ARCHITECTURE.md call the same preset the default as model.py does."""
    import re

    from kanjinet.training.model import DEFAULT_ARCH

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert f"| `{DEFAULT_ARCH}` (default) |" in readme
    assert f"| default model (`{DEFAULT_ARCH}`) |" in readme
    assert re.findall(r"`([\w-]+)` \(default\)", readme) == [DEFAULT_ARCH]
    assert re.findall(r"default model \(`([\w-]+)`\)", readme) == [DEFAULT_ARCH]
    assert re.findall(r"`([\w-]+)` default", architecture) == [DEFAULT_ARCH]
    assert not re.search(r"\d+ tests", readme), "README states a test count: keep it out"
