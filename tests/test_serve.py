"""`kanjinet serve` / `web-build`: model and mapping checks, the files served and their types.

Uses a tiny ONNX classifier built with onnx.helper (no torch) and a stand-in
onnxruntime-web directory; the real browser run is in test_web_e2e.py.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from kanjinet.cli import main
from kanjinet.core.errors import KanjinetError
from kanjinet.inference.mappingfile import mapping_path
from kanjinet.inference.modelfile import read_model_file
from kanjinet.web.page import ORT_FILES, ORT_SHIPPED, find_ort_dist
from kanjinet.web.serve import ServeConfig, make_server, server_url
from kanjinet.web.web_build import WebBuildConfig, run_web_build

CLASSES = 6
SIZE = 16


def write_classifier(path: Path, classes: int = CLASSES, size: int = SIZE) -> Path:
    """input (batch, 1, size, size) -> Flatten -> Gemm -> logits (batch, classes), like an export."""
    weight = np.random.default_rng(0).normal(size=(classes, size * size)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"]),
            helper.make_node("Gemm", ["flat", "weight"], ["logits"], transB=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        [numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.metadata_props.add(key="normalization", value=json.dumps({"name": "kanjinet.normalize"}))
    onnx.save(model, path)
    return path


def write_mapping(path: Path, classes: int = CLASSES) -> Path:
    chars = "田中山川日月木水火土"[:classes]
    mapping = {
        "num_classes": classes,
        "class_to_char": {str(i): c for i, c in enumerate(chars)},
        "input": {"name": "input", "shape": [1, 1, SIZE, SIZE]},
    }
    path.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """kanji_etl9g_model.onnx + kanji_etl9g_mapping.json as export writes them, plus ort files."""
    write_classifier(tmp_path / "kanji_etl9g_model.onnx")
    write_mapping(tmp_path / "kanji_etl9g_mapping.json")
    ort = tmp_path / "ort"
    ort.mkdir()
    for name in ORT_FILES:
        (ort / name).write_bytes(b"\0asm" if name.endswith(".wasm") else b"// " + name.encode())
    return tmp_path


def serve_config(model_dir: Path, **changes) -> ServeConfig:
    values = {
        "model": model_dir / "kanji_etl9g_model.onnx",
        "port": 0,
        "ort_dir": model_dir / "ort",
        **changes,
    }
    return ServeConfig(**values)


@pytest.fixture
def served(model_dir):
    """A running server on a free port: yields its URL."""
    server = make_server(serve_config(model_dir))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_url(server)
    server.shutdown()
    server.server_close()
    thread.join(5)


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_the_model_file_gives_names_sizes_and_characters(model_dir):
    info = read_model_file(model_dir / "kanji_etl9g_model.onnx")
    assert info.input_name == "input"
    assert info.output_name == "logits"
    assert info.image_size == SIZE
    assert info.characters == list("田中山川日月")


def test_default_mapping_is_the_exported_name_beside_the_model():
    model = Path("out", "kanji_etl9g_model.onnx")
    assert mapping_path(model) == Path("out", "kanji_etl9g_mapping.json")
    assert mapping_path(Path("m.onnx")) == Path("m_mapping.json")
    int8 = Path("out", "kanji_etl9g_model.int8.onnx")
    assert mapping_path(int8) == Path("out", "kanji_etl9g_mapping.json")


def test_serves_page_model_and_wasm_with_their_types(served, model_dir):
    status, kind, body = fetch(served)
    assert status == 200 and kind.startswith("text/html")
    assert b'src="ort/ort.wasm.min.js"' in body
    expected = {
        "app.js": "text/javascript",
        "preprocess.js": "text/javascript",
        "style.css": "text/css",
        "ort/ort.wasm.min.js": "text/javascript",
        "ort/ort-wasm-simd-threaded.mjs": "text/javascript",
        "ort/ort-wasm-simd-threaded.wasm": "application/wasm",
        "model.onnx": "application/octet-stream",
        "mapping.json": "application/json",
    }
    for name, mime in expected.items():
        status, kind, _ = fetch(served + name)
        assert status == 200, name
        assert kind.split(";")[0] == mime, name
    _, _, model = fetch(served + "model.onnx")
    assert model == (model_dir / "kanji_etl9g_model.onnx").read_bytes()


def test_config_tells_the_page_the_model_layout(served):
    _, _, body = fetch(served + "config.json?x=1")
    config = json.loads(body)
    assert config["input_name"] == "input"
    assert config["output_name"] == "logits"
    assert config["input_size"] == [SIZE, SIZE]
    assert config["num_classes"] == CLASSES
    # From the ONNX metadata when the mapping does not carry it.
    assert config["normalization"] == {"name": "kanjinet.normalize"}


def test_serves_nothing_outside_the_page(served):
    for path in ("../pyproject.toml", "serve.py", "ort/", "web/index.html", "%2e%2e/etc/passwd"):
        status, _, _ = fetch(served + path)
        assert status == 404, path


def test_refuses_a_file_that_is_not_onnx(model_dir, capsys):
    bad = model_dir / "kanji_etl9g_model.onnx"
    bad.write_text("this is not a model\n")
    status = main(["serve", "--model", str(bad), "--ort-dir", str(model_dir / "ort")])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1
    assert f"{bad}: not an ONNX model" in err


def test_refuses_a_mapping_with_another_class_count(model_dir, capsys):
    other = write_mapping(model_dir / "other_mapping.json", classes=4)
    status = main(
        [
            "serve",
            "--model",
            str(model_dir / "kanji_etl9g_model.onnx"),
            "--mapping",
            str(other),
            "--ort-dir",
            str(model_dir / "ort"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1
    assert f"{other}: lists 4 classes, the model has {CLASSES} outputs" in err


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ("{not json", "not a JSON mapping file"),
        ('{"labels": []}', "no class table"),
        (
            '{"num_classes": 7, "class_to_char": ["田", "中", "山", "川", "日", "月"]}',
            "num_classes is 7",
        ),
        ('{"class_to_char": ["a", "b", "c", "d", "e", "f"]}', "entry 0, 'a', is not a character"),
    ],
)
def test_refuses_broken_mappings(model_dir, contents, message):
    mapping = model_dir / "kanji_etl9g_mapping.json"
    mapping.write_text(contents, encoding="utf-8")
    with pytest.raises(KanjinetError, match=message) as caught:
        make_server(serve_config(model_dir))
    assert str(caught.value).startswith(str(mapping))


def test_refuses_missing_model_and_directories(model_dir):
    with pytest.raises(KanjinetError, match="no such model file"):
        make_server(serve_config(model_dir, model=model_dir / "missing.onnx"))
    with pytest.raises(KanjinetError, match="not a file"):
        make_server(serve_config(model_dir, model=model_dir))


def test_refuses_a_model_without_class_scores(model_dir):
    path = model_dir / "kanji_etl9g_model.onnx"
    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["out"])],
        "image-to-image",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    onnx.save(helper.make_model(graph), path)
    with pytest.raises(KanjinetError, match="must be one \\(batch, 1, S, S\\) image tensor"):
        make_server(serve_config(model_dir))


def test_missing_onnxruntime_web_is_one_line(tmp_path):
    with pytest.raises(KanjinetError, match="nowhere: onnxruntime-web files .* not found"):
        find_ort_dist(tmp_path / "nowhere")


def test_onnxruntime_web_ships_in_the_package():
    """No npm needed to serve: the page's runtime files are inside the package."""
    assert find_ort_dist(None) == ORT_SHIPPED
    assert (ORT_SHIPPED / "ort-wasm-simd-threaded.wasm").read_bytes()[:4] == b"\0asm"


def test_shipped_onnxruntime_web_equals_the_pinned_npm_package():
    dist = Path(__file__).resolve().parents[1] / "node_modules" / "onnxruntime-web" / "dist"
    if not dist.is_dir():
        pytest.skip("node_modules absent: `npm ci` installs the pinned onnxruntime-web")
    for name in ORT_FILES:
        assert (ORT_SHIPPED / name).read_bytes() == (dist / name).read_bytes(), name


def test_web_build_writes_the_served_files(model_dir, served, tmp_path):
    out = tmp_path / "build" / "site"
    config = WebBuildConfig(
        model=model_dir / "kanji_etl9g_model.onnx", out=out, ort_dir=model_dir / "ort"
    )
    assert run_web_build(config) == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "index.html" in names and "ort/ort-wasm-simd-threaded.wasm" in names
    for name in names:
        assert (out / name).read_bytes() == fetch(served + name)[2], name
    # Building again replaces the previous build; a foreign directory is refused.
    (out / "index.html").write_text("old")
    assert run_web_build(config) == 0
    assert (out / "index.html").read_bytes() != b"old"
    foreign = tmp_path / "build" / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(KanjinetError, match="not empty and not a kanjinet web-build output"):
        run_web_build(WebBuildConfig(model=config.model, out=foreign, ort_dir=config.ort_dir))
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine", "site"]  # no temporaries left


def test_serve_command_prints_its_url_and_serves(model_dir):
    """The real command in a subprocess, as a user runs it: bound to 127.0.0.1, URL printed."""
    command = [sys.executable, "-m", "kanjinet", "serve", "--port", "0"]
    command += ["--model", str(model_dir / "kanji_etl9g_model.onnx")]
    command += ["--ort-dir", str(model_dir / "ort")]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8"
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("kanjinet serve: http://127.0.0.1:"), line
        url = line.split()[2]
        status, kind, _ = fetch(url)
        assert status == 200 and kind.startswith("text/html")
    finally:
        process.terminate()
        process.wait(10)


def test_cli_flags(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    for flag in ("--model", "--mapping", "--port", "--host", "--ort-dir"):
        assert flag in text
    with pytest.raises(SystemExit):
        main(["web-build", "--help"])
    assert "--out" in capsys.readouterr().out


@pytest.mark.parametrize("port", [-1, 70000])
def test_ports_outside_the_tcp_range_are_refused(model_dir, port):
    with pytest.raises(KanjinetError, match=f"--port {port}: must be"):
        serve_config(model_dir, port=port)


def test_all_interfaces_are_announced_with_a_warning_and_the_real_address(model_dir):
    from kanjinet.web.serve import announcement
    from kanjinet.web.site_server import network_address

    server = make_server(serve_config(model_dir, host="0.0.0.0"))
    try:
        lines = announcement(server)
    finally:
        server.server_close()
    port = server.server_address[1]
    assert lines[0].startswith(f"kanjinet serve: http://{network_address()}:{port}/")
    assert "reachable from the network" in lines[1]
    local = make_server(serve_config(model_dir))
    local.server_close()
    url, model = announcement(local)  # no warning; the model's line comes last
    assert "127.0.0.1" in url and model == (
        "kanjinet serve: kanji_etl9g_model.onnx, 6 characters, training data not recorded"
    )


def test_a_model_replaced_or_deleted_while_serving_is_served_as_read_at_start(served, model_dir):
    """config.json, model.onnx and mapping.json always agree: all three are what serve read
    and checked at start-up, whatever happens on disk afterwards."""
    model = model_dir / "kanji_etl9g_model.onnx"
    before = {name: fetch(served + name)[2] for name in ("model.onnx", "mapping.json")}
    write_classifier(model, classes=3)
    write_mapping(model_dir / "kanji_etl9g_mapping.json", classes=3)
    for name, body in before.items():
        assert fetch(served + name)[2] == body, name
    assert json.loads(fetch(served + "config.json")[2])["num_classes"] == CLASSES
    model.unlink()
    status, _, body = fetch(served + "model.onnx")
    assert status == 200 and body == before["model.onnx"]
    assert fetch(served)[0] == 200


def test_a_client_that_goes_away_is_one_line_not_a_traceback(model_dir, capfd):
    import socket
    import struct
    import time

    from kanjinet.web.page import ORT_FILES

    wasm = next(name for name in ORT_FILES if name.endswith(".wasm"))
    (model_dir / "ort" / wasm).write_bytes(bytes(32 << 20))  # far more than socket buffers
    server = make_server(serve_config(model_dir))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = socket.create_connection(server.server_address[:2], timeout=10)
        host = f"127.0.0.1:{server.server_address[1]}"
        client.sendall(f"GET /ort/{wasm} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        client.recv(1024)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset, as a closed tab gives
        deadline = time.monotonic() + 10
        err = ""
        while "went away" not in err and time.monotonic() < deadline:
            time.sleep(0.1)
            err += capfd.readouterr().err
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert "went away" in err
    assert "Traceback" not in err


def raw_request(address: tuple, host: str | None, path: str = "/model.onnx") -> tuple[int, str]:
    """(status, response head) of a GET with exactly this Host header (None: no Host)."""
    import socket

    with socket.create_connection(address[:2], timeout=10) as client:
        head = f"GET {path} HTTP/1.1\r\n" + (f"Host: {host}\r\n" if host is not None else "")
        client.sendall((head + "Connection: close\r\n\r\n").encode("latin-1"))
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    text = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return int(text.split()[1]), text


@contextlib.contextmanager
def running(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    ("host", "good"),
    [
        ("127.0.0.1:{port}", True),
        ("localhost:{port}", True),
        ("LOCALHOST:{port}", True),
        ("attacker.example:{port}", False),
        ("attacker.example", False),
        ("127.0.0.1", False),  # the port is part of the address
        ("127.0.0.1:1", False),
        ("localhost.attacker.example:{port}", False),
        ("127.0.0.1:{port}@attacker.example", False),
        ("", False),
        (None, False),
    ],
)
def test_only_requests_addressed_to_this_server_are_answered(model_dir, host, good):
    """DNS rebinding: a page on attacker.example re-pointed at 127.0.0.1 sends its own name."""
    with running(make_server(serve_config(model_dir))) as server:
        port = server.server_address[1]
        status, head = raw_request(server.server_address, host and host.format(port=port))
    assert status == (200 if good else 421), head
    assert "X-Content-Type-Options: nosniff" in head


def test_every_response_says_nosniff_the_404_too(served):
    for path in ("", "model.onnx", "missing.txt"):
        request = urllib.request.Request(served + path)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                headers = response.headers
        except urllib.error.HTTPError as error:
            assert error.code == 404
            headers = error.headers
        assert headers["X-Content-Type-Options"] == "nosniff", path


def test_idle_connections_do_not_make_threads_without_bound(model_dir, monkeypatch):
    """300 sockets that never send: at most MAX_CONNECTIONS threads; when they time out
    the page is served again."""
    import socket
    import time

    from kanjinet.web.site_server import SiteHandler, SiteServer

    monkeypatch.setattr(SiteHandler, "timeout", 1.0)
    baseline = threading.active_count()
    with running(make_server(serve_config(model_dir))) as server:
        idle = [socket.create_connection(server.server_address[:2]) for _ in range(300)]
        try:
            time.sleep(0.5)
            most = threading.active_count() - baseline
            assert most <= SiteServer.MAX_CONNECTIONS + 1, most
        finally:
            for sock in idle:
                sock.close()
        time.sleep(1.5)
        status, _ = raw_request(server.server_address, f"127.0.0.1:{server.server_address[1]}")
    assert status == 200


@pytest.mark.parametrize("host", ["::1", "::"])
def test_serves_on_ipv6(model_dir, host):
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    with running(make_server(serve_config(model_dir, host=host))) as server:
        port = server.server_address[1]
        assert server_url(server).startswith(
            f"http://[::1]:{port}/" if host == "::1" else "http://"
        )
        status, head = raw_request(("::1", port), f"[::1]:{port}")
        assert status == 200, head
        if host == "::":  # every interface, IPv4 too
            assert raw_request(("127.0.0.1", port), f"127.0.0.1:{port}")[0] == 200


def web_build_config(model_dir: Path, out: Path) -> WebBuildConfig:
    return WebBuildConfig(
        model=model_dir / "kanji_etl9g_model.onnx", out=out, ort_dir=model_dir / "ort"
    )


def test_web_build_never_deletes_what_the_user_added(model_dir, tmp_path):
    """notes.txt and photos/ added to an earlier build used to vanish on the next build."""
    out = tmp_path / "site"
    assert run_web_build(web_build_config(model_dir, out)) == 0
    (out / "notes.txt").write_text("keep me")
    (out / "photos").mkdir()
    (out / "photos" / "a.jpg").write_bytes(b"jpeg")
    with pytest.raises(KanjinetError) as caught:
        run_web_build(web_build_config(model_dir, out))
    message = str(caught.value)
    assert message.startswith(f"{out}: holds files web-build did not write")
    assert "notes.txt" in message and "photos/" in message and "a.jpg" not in message
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "photos" / "a.jpg").read_bytes() == b"jpeg"
    (out / "notes.txt").unlink()
    (out / "photos" / "a.jpg").unlink()
    (out / "photos").rmdir()
    assert run_web_build(web_build_config(model_dir, out)) == 0  # only its own files: replaced


def test_web_build_into_a_symlinked_folder(model_dir, tmp_path):
    real = tmp_path / "sites" / "real"
    link = tmp_path / "sites" / "link"
    link.parent.mkdir()
    link.symlink_to(real, target_is_directory=True)
    for _ in range(2):  # the first build creates the folder, the second replaces it
        assert run_web_build(web_build_config(model_dir, link)) == 0
    assert link.is_symlink() and (real / "index.html").is_file()
    assert sorted(p.name for p in link.parent.iterdir()) == ["link", "real"]


def test_a_name_near_the_length_limit_is_not_too_long_with_its_temporary(model_dir, tmp_path):
    from kanjinet.core.atomic import write_json

    name = "a" * 250
    write_json(tmp_path / name, {"ok": True})
    assert json.loads((tmp_path / name).read_text()) == {"ok": True}
    out = tmp_path / "sites" / name
    assert run_web_build(web_build_config(model_dir, out)) == 0
    assert run_web_build(web_build_config(model_dir, out)) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == [name]


def test_paths_with_a_newline_stay_on_one_line(model_dir, tmp_path, capsys):
    out = tmp_path / "my\nsite"
    args = ["web-build", "--model", str(model_dir / "kanji_etl9g_model.onnx")]
    args += ["--ort-dir", str(model_dir / "ort"), "--out", str(out)]
    assert main(args) == 0
    first = capsys.readouterr().out.splitlines()[0]
    written = sum(path.is_file() for path in out.rglob("*"))
    assert first == f"kanjinet web-build: wrote {written} files to {str(out)!r}"
    missing = tmp_path / "no\nmodel.onnx"
    assert main(["serve", "--model", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and repr(str(missing)) in err
