"""What breaks on Windows, simulated on Linux: output encoding, DDP backend, torch.compile.

Windows itself is not run here (docs/windows.md): each test reproduces the Windows
condition (a cp1252 stdout, a PyTorch without NCCL, sys.platform == "win32").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import bench_module
from PIL import Image

from kanjinet import cli
from kanjinet.training import devices, distributed


def run_cp1252(cwd: Path, *args: object) -> subprocess.CompletedProcess:
    """`kanjinet ARGS` in `cwd` as on Windows with output redirected: stdio in the ANSI code
    page."""
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "OMP_NUM_THREADS": "1"}
    # Also an error for any text file opened without an encoding (the ANSI code page there).
    strict = ["-X", "warn_default_encoding", "-W", "error::EncodingWarning"]
    command = [sys.executable, *strict, "-m", "kanjinet", *map(str, args)]
    return subprocess.run(command, capture_output=True, env=env, cwd=cwd)


def utf8_text(result: subprocess.CompletedProcess) -> str:
    """stdout, which must be UTF-8 (a cp1252 byte of a Western character would not decode)."""
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    return result.stdout.decode("utf-8")


@pytest.fixture(scope="module")
def model_and_picture(small_dataset_dir, tmp_path_factory, trained_checkpoint) -> tuple[Path, Path]:
    """A briefly trained checkpoint and one picture of a prepared sample, in a folder with a
    Japanese name (a Windows user's folder may well have one)."""
    from kanjinet.data.dataset import load_prepared

    out = tmp_path_factory.mktemp("win") / "モデル"
    out.mkdir()
    checkpoint = trained_checkpoint(small_dataset_dir, out, epochs=1)
    picture = out / "田んぼ.png"
    Image.fromarray(255 - load_prepared(small_dataset_dir).images[0]).save(picture)
    return checkpoint, picture


def test_help_is_utf8_under_a_cp1252_console(tmp_path):
    assert "田" in utf8_text(run_cp1252(tmp_path, "--help"))
    assert "田" in utf8_text(run_cp1252(tmp_path, "inspect", "--help"))


def test_synth_check_prepare_print_japanese_paths_as_utf8(tmp_path):
    etl = tmp_path / "合成データ"
    assert "合成データ" in utf8_text(
        run_cp1252(tmp_path, "synth", "--out", etl, "--classes", 3, "--writers", 2)
    )
    assert "preflight" in utf8_text(run_cp1252(tmp_path, "check", "--etl-dir", etl))
    prepared = tmp_path / "準備済み"
    out = utf8_text(
        run_cp1252(tmp_path, "prepare", "--etl-dir", etl, "--output-dir", prepared, "--size", 32)
    )
    assert "準備済み" in out


def test_inspect_prints_the_rice_field_as_utf8(small_dataset_dir, tmp_path):
    assert "田" in utf8_text(
        run_cp1252(
            tmp_path, "inspect", "--data-dir", small_dataset_dir, "--out", tmp_path / "レポート"
        )
    )


@pytest.mark.slow
def test_evaluate_and_predict_print_utf8_and_json_stays_utf8(
    model_and_picture, small_dataset_dir, tmp_path
):
    checkpoint, picture = model_and_picture
    report = tmp_path / "評価.json"
    args = ["--model-path", checkpoint, "--data-dir", small_dataset_dir, "--device", "cpu"]
    args += ["--json", report, "--worst-png", tmp_path / "最悪.png"]
    text = utf8_text(run_cp1252(tmp_path, "evaluate", *args))
    assert "評価.json" in text
    worst = json.loads(report.read_text(encoding="utf-8"))["worst_classes"][0]["char"]
    assert f"  {worst} " in text  # the character itself, not an escape
    table = utf8_text(run_cp1252(tmp_path, "predict", "--model", checkpoint, picture))
    assert "田んぼ.png" in table
    document = json.loads(
        utf8_text(run_cp1252(tmp_path, "predict", "--model", checkpoint, "--json", picture))
    )
    first = document["results"][0]
    assert first["image"].endswith("田んぼ.png") and first["top_k"][0]["char"] in table


def test_an_error_line_naming_a_japanese_file_is_utf8(tmp_path):
    missing = tmp_path / "無い.onnx"
    result = run_cp1252(tmp_path, "predict", "--model", missing, tmp_path / "x.png")
    assert result.returncode == 2
    error = result.stderr.decode("utf-8").strip()
    assert "無い.onnx" in error and len(error.splitlines()) == 1, error


def test_cli_main_reconfigures_a_cp1252_stream(monkeypatch):
    import io

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    monkeypatch.setattr(sys, "stdout", stdout)
    cli.use_utf8_output()
    print("田")
    stdout.flush()
    assert stdout.buffer.getvalue() == "田\n".encode()


# --------------------------------------------------------------------------- DDP


def test_nccl_only_where_this_pytorch_has_it(monkeypatch):
    import torch.distributed as dist

    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(dist, "is_nccl_available", lambda: False)  # Windows, macOS builds
    assert distributed.distributed_backend(cuda) == "gloo"
    monkeypatch.setattr(dist, "is_nccl_available", lambda: True)
    assert distributed.distributed_backend(cuda) == "nccl"
    assert distributed.distributed_backend(torch.device("cpu")) == "gloo"


def fake_process_group(monkeypatch) -> list[str]:
    """torch.distributed's entry points replaced: the backends init_process_group is given."""
    import torch.distributed as dist

    backends: list[str] = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: backends.append(backend))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    return backends


def test_torchrun_on_cuda_without_nccl_joins_with_gloo(monkeypatch):
    import torch.distributed as dist

    backends = fake_process_group(monkeypatch)
    monkeypatch.setattr(dist, "is_nccl_available", lambda: False)
    monkeypatch.setattr(
        distributed, "resolve_device", lambda name, rank: torch.device("cuda", rank)
    )
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    ranks, device = distributed.init_distributed("cuda")
    assert backends == ["gloo"] and device == torch.device("cuda", 1)
    assert (ranks.rank, ranks.world, ranks.local_rank) == (1, 2, 1)


def test_windows_process_group_asks_for_no_libuv(monkeypatch):
    backends = fake_process_group(monkeypatch)
    monkeypatch.setenv("USE_LIBUV", "unset by the test")
    monkeypatch.delenv("USE_LIBUV")
    monkeypatch.setattr(sys, "platform", "win32")
    distributed.init_distributed("cpu")
    assert backends == ["gloo"] and os.environ["USE_LIBUV"] == "0"
    monkeypatch.setenv("USE_LIBUV", "1")  # the user's explicit choice stands
    distributed.init_distributed("cpu")
    assert os.environ["USE_LIBUV"] == "1"


def test_linux_leaves_libuv_alone(monkeypatch):
    fake_process_group(monkeypatch)
    monkeypatch.setenv("USE_LIBUV", "unset by the test")
    monkeypatch.delenv("USE_LIBUV")
    monkeypatch.setattr(sys, "platform", "linux")
    distributed.init_distributed("cpu")
    assert "USE_LIBUV" not in os.environ


# --------------------------------------------------------------------------- --compile


def test_compile_on_windows_without_a_compiler_is_one_clear_line(
    small_dataset_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    argv = ["train", "--data-dir", str(small_dataset_dir), "--output-dir", str(tmp_path)]
    assert cli.main([*argv, "--device", "cpu", "--epochs", "1", "--compile"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("kanjinet train: error: --compile:") and "C++ compiler" in error
    assert len(error.splitlines()) == 1
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".pth", ".json", ".png")]


def test_compile_needs_triton_for_cuda_on_windows(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(devices.importlib.util, "find_spec", lambda name: None)
    assert "Triton" in devices.compile_problem(torch.device("cuda", 0))
    monkeypatch.setattr(devices.shutil, "which", lambda name: f"C:/VS/{name}.exe")
    assert devices.compile_problem(torch.device("cpu")) is None
    monkeypatch.setattr(sys, "platform", "linux")
    assert devices.compile_problem(torch.device("cuda", 0)) is None


# --------------------------------------------------------------------------- dev.py


@pytest.fixture
def dev():
    """dev.py as a module (it is a script at the repository root, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("dev", Path(__file__).parents[1] / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dev_prints_windows_commands_and_paths(dev, monkeypatch):
    monkeypatch.setattr(os, "name", "nt")
    usage = dev.usage()
    assert "py dev.py demo" in usage and "py dev.py test" in usage and "python3" not in usage
    assert dev.venv_python() == dev.VENV / "Scripts" / "python.exe"
    serve = r".venv\Scripts\kanjinet serve --model demo\model\kanji_etl9g_model.onnx"
    assert serve in dev.finished_message()
    assert r".venv\Scripts\python.exe -m pip install torch --index-url" in dev.cuda_advice("2.13.0")


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths cannot be made on Windows")
def test_dev_prints_posix_commands_and_paths(dev, monkeypatch):
    monkeypatch.setattr(os, "name", "posix")
    assert "python3 dev.py demo" in dev.usage()
    assert dev.venv_python() == dev.VENV / "bin" / "python"
    assert ".venv/bin/kanjinet serve --model demo/model/kanji_etl9g_model.onnx" in (
        dev.finished_message()
    )


def test_dev_steps_write_utf8_whatever_the_console(dev, monkeypatch, capfd):
    monkeypatch.setenv("PYTHONIOENCODING", "cp1252")
    dev.run(sys.executable, "-c", "import sys; print(sys.stdout.encoding, '田')")
    assert "utf-8 田" in capfd.readouterr().out


def test_npm_cmd_is_found_before_the_extensionless_script(dev, monkeypatch):
    asked = []

    def which(name):
        asked.append(name)
        return f"C:/Program Files/nodejs/{name}"

    monkeypatch.setattr(dev.shutil, "which", which)
    monkeypatch.setattr(os, "name", "nt")
    assert dev.find_npm() == "C:/Program Files/nodejs/npm.cmd" and asked == ["npm.cmd"]
    monkeypatch.setattr(os, "name", "posix")
    assert dev.find_npm() == "C:/Program Files/nodejs/npm"


@pytest.mark.parametrize(
    ("installed", "pinned"),
    [
        (("2.12.0+cu126", "12.6"), False),  # a CUDA build the project allows: kept
        (("2.12.0+rocm6.4", "6.4"), False),  # ROCm likewise
        (("2.4.1+cu121", "12.1"), True),  # older than pyproject's torch>=2.5
        (("2.12.0+cpu", None), True),
        (None, True),  # no torch yet
    ],
)
def test_setup_keeps_an_installed_gpu_torch(dev, monkeypatch, capsys, installed, pinned):
    commands = []
    monkeypatch.setattr(dev, "installed_torch", lambda: installed)
    monkeypatch.setattr(dev, "run", lambda *args, **kw: commands.append(args))
    monkeypatch.setattr(dev.shutil, "which", lambda name: None)
    dev.install_torch()
    assert (commands == [(dev.venv_python(), "-m", "pip", "install", "-q", dev.TORCH)]) == pinned
    assert ("keeping the installed PyTorch" in capsys.readouterr().out) != pinned


def test_setup_says_how_to_get_cuda_when_a_gpu_has_a_cpu_torch(dev, monkeypatch, capsys):
    monkeypatch.setattr(dev, "installed_torch", lambda: ("2.13.0", None))  # PyPI, Windows
    monkeypatch.setattr(dev, "run", lambda *args, **kw: None)
    monkeypatch.setattr(
        dev.shutil, "which", lambda name: "nvidia-smi" if name == "nvidia-smi" else None
    )
    dev.install_torch()
    out = capsys.readouterr().out
    assert "CPU-only build" in out and f"--index-url {dev.TORCH_INDEX}" in out


def test_torch_minimum_comes_from_pyproject(dev):
    assert dev.torch_minimum() == (2, 5)
    assert dev.version_tuple("2.13.0+cu128") == (2, 13, 0)
    assert dev.version_tuple("2.14.0.dev20260101") == (2, 14, 0)


# --------------------------------------------------------------------------- README


def powershell_blocks(markdown: str) -> list[list[str]]:
    blocks = re.findall(r"```powershell\n(.*?)```", markdown, flags=re.DOTALL)
    return [block.splitlines() for block in blocks]


def windows_powershell_problems(line: str) -> list[str]:
    """What Windows PowerShell 5.1 cannot run as meant, as far as one line shows it."""
    checks = {
        "&& or || (PowerShell 7 only)": re.search(r"&&|\|\|", line),
        "backtick followed by a space (no continuation)": re.search(r"`[ \t]+$", line),
        "POSIX venv path": re.search(r"\.venv/|/bin/", line),
        "python3 (the Store stub)": re.search(r"\bpython3\b", line),
        "make (absent)": re.match(r"\s*make\b", line),
        "sh-style activation": re.match(r"\s*(\.|source)\s", line),
    }
    return [problem for problem, found in checks.items() if found]


def test_readme_has_a_windows_powershell_block_valid_in_51():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Windows (PowerShell)", 1)[1].split("\n#", 1)[0]
    [block] = powershell_blocks(section)
    assert {"py dev.py demo", "py dev.py test"} <= set(block)
    assert any(line.startswith(r".venv\Scripts\kanjinet ") for line in block)
    assert any(line.endswith(" `") for line in block)  # a continued line
    for line in block:
        assert not windows_powershell_problems(line), line


def test_every_powershell_line_in_the_docs_is_valid_in_51():
    root = Path(__file__).parents[1]
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for block in powershell_blocks(doc.read_text(encoding="utf-8")):
            for line in block:
                assert not windows_powershell_problems(line), f"{doc.name}: {line}"
    assert windows_powershell_problems("py dev.py setup && .venv\\Scripts\\kanjinet check")
    assert windows_powershell_problems("kanjinet train ` ")


# --------------------------------------------------------------------------- newlines


def test_the_windows_newline_simulation_is_real(windows_newlines, tmp_path):
    (tmp_path / "plain.txt").write_text("a\nb\n", encoding="utf-8")
    assert (tmp_path / "plain.txt").read_bytes() == b"a\r\nb\r\n"


def test_written_text_ends_lines_with_lf_on_windows(windows_newlines, tmp_path):
    from kanjinet.core import atomic
    from kanjinet.synthesis.synth import SynthConfig, synthesize

    atomic.write_json(tmp_path / "a.json", {"田": [1, 2]})
    atomic.write_text(tmp_path / "b.txt", "one\ntwo\n")
    synthesize(SynthConfig(out=tmp_path / "etl", writers=1, classes=2, workers=1))
    written = [tmp_path / "a.json", tmp_path / "b.txt", *(tmp_path / "etl").glob("*INFO*")]
    written.append(tmp_path / "etl" / "kanjinet-synth.json")
    for path in written:
        data = path.read_bytes()
        assert b"\n" in data and b"\r" not in data, path.name


@pytest.fixture(scope="module")
def benchlib():
    """bench/benchlib.py, which the bench scripts import from their own folder."""
    return bench_module("benchlib")


def test_bench_results_end_lines_with_lf(windows_newlines, benchlib, tmp_path):
    # The parity vectors are checked the same way in test_preprocess_parity.py.
    results = tmp_path / "RESULTS.md"
    benchlib.write_section(results, "## A heading", "line 1\nline 2")
    benchlib.append_to_section(results, "## A heading", "intro", "line 3\n")
    for path in (results,):
        data = path.read_bytes()
        assert b"\n" in data and b"\r" not in data, path.name


# --------------------------------------------------------------------------- renames


def flaky(real, failures: int):
    """`real`, but the first `failures` calls raise PermissionError (a scanner holds the file)."""
    calls = []

    def action(*args):
        calls.append(args)
        if len(calls) <= failures:
            raise PermissionError(32, "The process cannot access the file", str(args[0]))
        return real(*args)

    return action, calls


def test_renames_and_removals_are_retried_on_windows(tmp_path, monkeypatch):
    from kanjinet.core import atomic

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(atomic.time, "sleep", lambda seconds: None)
    replace, calls = flaky(os.replace, 2)
    monkeypatch.setattr(atomic.os, "replace", replace)
    atomic.write_json(tmp_path / "a.json", [1])
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8")) == [1]
    assert len(calls) == 3
    rmtree, calls = flaky(atomic.shutil.rmtree, 1)
    monkeypatch.setattr(atomic.shutil, "rmtree", rmtree)
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    atomic.remove_tree(tmp_path / "tree")
    assert not (tmp_path / "tree").exists() and len(calls) == 2


def test_a_lasting_refusal_is_raised_after_the_retries(tmp_path, monkeypatch):
    from kanjinet.core import atomic

    monkeypatch.setattr(sys, "platform", "win32")
    slept = []
    monkeypatch.setattr(atomic.time, "sleep", slept.append)
    replace, calls = flaky(os.replace, 99)
    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(PermissionError):
        atomic.write_json(tmp_path / "a.json", [1])
    assert len(calls) == len(atomic.RETRY_DELAYS) + 1 and slept == list(atomic.RETRY_DELAYS)
    assert list(tmp_path.iterdir()) == []  # the temporary file is removed


def test_linux_does_not_retry(tmp_path, monkeypatch):
    from kanjinet.core import atomic

    monkeypatch.setattr(sys, "platform", "linux")
    replace, calls = flaky(os.replace, 1)
    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(PermissionError):
        atomic.write_json(tmp_path / "a.json", [1])
    assert len(calls) == 1


# --------------------------------------------------------------------------- fonts


def test_the_font_scan_opens_each_font_once(tmp_path, monkeypatch):
    from kanjinet.core import fonts as pictures

    fonts = tmp_path / "Fonts"
    (fonts / "sub").mkdir(parents=True)
    for name in ("msgothic.ttc", "arial.ttf", "sub/yumin.otf", "readme.txt"):
        (fonts / name).write_bytes(b"font " + name.encode())
    monkeypatch.setattr(pictures, "FONT_DIRS", (str(fonts),))
    monkeypatch.setenv("KANJINET_CACHE_DIR", str(tmp_path / "cache"))
    opened = []

    def covers_japanese(path):
        opened.append(path.name)
        return path.name != "arial.ttf"

    monkeypatch.setattr(pictures, "covers_japanese", covers_japanese)
    expected = (fonts / "msgothic.ttc", fonts / "sub" / "yumin.otf")
    assert pictures.find_japanese_fonts() == expected
    assert sorted(opened) == ["arial.ttf", "msgothic.ttc", "yumin.otf"]
    opened.clear()
    assert pictures.find_japanese_fonts() == expected and opened == []  # all from the cache
    (fonts / "arial.ttf").write_bytes(b"a new version of the font")
    (fonts / "new.ttf").write_bytes(b"another")
    assert pictures.find_japanese_fonts() == (*expected[:1], fonts / "new.ttf", expected[1])
    assert sorted(opened) == ["arial.ttf", "new.ttf"]  # only what changed or is new


def test_a_broken_or_unwritable_font_cache_only_costs_time(tmp_path, monkeypatch):
    from kanjinet.core import fonts as pictures

    fonts = tmp_path / "Fonts"
    fonts.mkdir()
    (fonts / "a.ttf").write_bytes(b"x")
    monkeypatch.setattr(pictures, "FONT_DIRS", (str(fonts),))
    monkeypatch.setattr(pictures, "covers_japanese", lambda path: True)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / pictures.FONT_CACHE).write_text("{broken", encoding="utf-8")
    monkeypatch.setenv("KANJINET_CACHE_DIR", str(cache))
    assert pictures.find_japanese_fonts() == (fonts / "a.ttf",)
    assert json.loads((cache / pictures.FONT_CACHE).read_text(encoding="utf-8"))["version"] == 1
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("KANJINET_CACHE_DIR", str(tmp_path / "file"))
    assert pictures.find_japanese_fonts() == (fonts / "a.ttf",)


def test_the_user_cache_folder_by_platform(monkeypatch):
    from kanjinet.core import fonts as pictures

    monkeypatch.delenv("KANJINET_CACHE_DIR")
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", "/users/u/AppData/Local")
    assert pictures.cache_dir() == Path("/users/u/AppData/Local/kanjinet")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert pictures.cache_dir() == Path("/xdg/kanjinet")


# --------------------------------------------------------------------------- bench CPU

# A child that burns 0.3 s of CPU time in a grandchild and prints a line.
BURN = """
import subprocess, sys, time
code = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass"
subprocess.run([sys.executable, "-c", code], check=True)
print("done")
"""


@pytest.mark.skipif(os.name == "nt", reason="os.times() has no child times on Windows")
def test_bench_cpu_comes_from_os_times_where_it_counts_children(benchlib):
    run = benchlib.run_measured([sys.executable, "-c", BURN])
    assert run.stdout == "done\n" and run.cpu >= 0.3 and run.peak_rss > 0
    assert run.cpu_source.startswith("os.times()")


def test_bench_cpu_comes_from_psutil_where_os_times_has_no_children(benchlib, monkeypatch):
    real = os.times

    def windows_times():  # Windows: children_user and children_system are always 0
        t = real()
        return os.times_result((t.user, t.system, 0.0, 0.0, t.elapsed))

    monkeypatch.setattr(os, "times", windows_times)
    run = benchlib.run_measured([sys.executable, "-c", BURN], poll=0.02)
    assert run.cpu_source.startswith("psutil") and run.stdout == "done\n"
    assert run.cpu >= 0.2  # up to one poll interval is lost at each process's end


# --------------------------------------------------------------------------- browser


def installed(root: Path, relative: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"MZ")
    return path


def test_edge_is_found_where_windows_installs_it(tmp_path, monkeypatch):
    chromium = bench_module("chromium")
    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)
    monkeypatch.setattr(sys, "platform", "win32")
    for variable in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA"):
        monkeypatch.setenv(variable, str(tmp_path / variable))
    monkeypatch.delenv("PLAYWRIGHT_BROWSERS_PATH", raising=False)
    assert chromium.find_chromium() is None
    edge = installed(tmp_path / "PROGRAMFILES(X86)", "Microsoft/Edge/Application/msedge.exe")
    assert chromium.find_chromium() == str(edge)
    chrome = installed(tmp_path / "PROGRAMFILES", "Google/Chrome/Application/chrome.exe")
    assert chromium.find_chromium() == str(chrome)  # Chrome before Edge


def test_playwrights_own_chromium_is_the_last_resort(tmp_path, monkeypatch):
    chromium = bench_module("chromium")
    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    for variable in ("PROGRAMFILES", "PROGRAMFILES(X86)", "PLAYWRIGHT_BROWSERS_PATH"):
        monkeypatch.delenv(variable, raising=False)
    own = installed(tmp_path, "ms-playwright/chromium-1187/chrome-win/chrome.exe")
    assert chromium.find_chromium() == str(own)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "pw"))
    own = installed(tmp_path / "pw", "chromium-1187/chrome-linux/chrome")
    assert chromium.find_chromium() in (str(own), "/usr/bin/chromium", "/snap/bin/chromium")


def test_a_browser_on_path_comes_first(monkeypatch):
    chromium = bench_module("chromium")
    monkeypatch.setattr(
        chromium.shutil, "which", lambda name: f"/opt/{name}" if name == "msedge" else None
    )
    assert chromium.find_chromium() == "/opt/msedge"
