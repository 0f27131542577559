"""The browser demo: draw a character, recognised by the exported ONNX model in WebAssembly.

`kanjinet serve` serves the page in `web/` on localhost with Python's http.server;
`kanjinet web-build` writes the same files to a directory for any static host.
Inference runs in the browser (onnxruntime-web, WASM backend): the server only
hands out files, all of them local (onnxruntime-web's WASM build ships inside the
package, in `web/ort/`), so the page works offline and from a pip install. Without
`--model` it serves the shipped reference model. Imports onnx (to check the model),
never torch.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kanjinet.core.atomic import remove_tree, replace
from kanjinet.core.errors import KanjinetError, shown
from kanjinet.core.options import check_settings, opt
from kanjinet.inference.mappingfile import mapping_path
from kanjinet.inference.modelfile import ModelFile, read_model_file
from kanjinet.inference.onnxfile import check_is_file
from kanjinet.inference.shipped import (
    READ_MODEL,
    REFERENCE_MODEL,
    SHIPPED_HELP,
    model_or_reference,
    training_summary,
)

WEB_DIR = Path(__file__).parent  # the page's files beside this module
PAGE_FILES = ("index.html", "app.js", "preprocess.js", "style.css", "model.js", "upload.js",
              "pad.js", "words.js", "wordtext.js", "reading.js", "segment.js", "picture.js",
              "picture_ink.js", "normalize.js", "stroke_width.js", "model_input.js")  # fmt: skip
#: onnxruntime-web's WASM-only build: the loader script and the module + binary it fetches.
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ORT_PACKAGE_DIST = Path("node_modules", "onnxruntime-web", "dist")
#: The same files, shipped in the package (the version package.json pins; see ort/README.md).
ORT_SHIPPED = WEB_DIR / "ort"
#: Names of the model and mapping inside the site, so the page needs no query string.
SITE_MODEL = "model.onnx"
SITE_MAPPING = "mapping.json"
#: The word pad's model and mapping (another class set: katakana too), same rules.
SITE_WORD_MODEL = "word-model.onnx"
SITE_WORD_MAPPING = "word-mapping.json"
SITE_CONFIG = "config.json"
SITE_FORMAT = "kanjinet-web"
#: Flags for driving the page in a headless Chromium (the end-to-end test, bench_web):
#: no sandbox (containers, root), no GPU, no background traffic to the network.
HEADLESS_CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Chromium-family browsers by platform: names looked up on PATH, then the usual install
#: places (Edge comes with every Windows 10 and 11), relative to these folders.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                 "microsoft-edge", "msedge")  # fmt: skip
BROWSER_PLACES = {
    "win32": [
        (folder, app)
        for folder in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")
        for app in (
            "Google/Chrome/Application/chrome.exe",
            "Chromium/Application/chrome.exe",
            "Microsoft/Edge/Application/msedge.exe",
        )
    ],
    "darwin": [
        ("", f"/Applications/{app}.app/Contents/MacOS/{app}")
        for app in ("Chromium", "Google Chrome", "Microsoft Edge")
    ],
    "linux": [("", "/usr/bin/chromium"), ("", "/snap/bin/chromium")],
}
#: Playwright's own download (`playwright install chromium`): its folder and the browser
#: in it, by platform; $PLAYWRIGHT_BROWSERS_PATH replaces the folder.
PLAYWRIGHT_CHROMIUM = {
    "win32": ("LOCALAPPDATA", "ms-playwright", "chromium-*/chrome-win*/chrome.exe"),
    "darwin": (
        "HOME",
        "Library/Caches/ms-playwright",
        "chromium-*/chrome-mac*/*.app/Contents/MacOS/*",
    ),
    "linux": ("HOME", ".cache/ms-playwright", "chromium-*/chrome-linux*/chrome"),
}
# Browsers refuse WASM and module scripts served with the wrong type, so the
# types are fixed here rather than left to the platform's mimetypes table.
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".png": "image/png",
}


def find_chromium() -> str | None:
    """A Chromium, Chrome or Edge to drive with HEADLESS_CHROMIUM_ARGS (the end-to-end test,
    bench_web): on PATH, then where this platform installs them, then Playwright's own
    download. None if there is none."""
    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    for name in BROWSER_NAMES:
        if found := shutil.which(name):
            return found
    for variable, place in BROWSER_PLACES.get(platform, []):
        base = os.environ.get(variable) if variable else "/"
        if base and Path(base, place).is_file():
            return str(Path(base, place))
    return playwright_chromium(platform)


def playwright_chromium(platform: str) -> str | None:
    """A Chromium that `playwright install` downloaded (the last by name), or None."""
    if platform not in PLAYWRIGHT_CHROMIUM:
        return None
    variable, folder, pattern = PLAYWRIGHT_CHROMIUM[platform]
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if not root and os.environ.get(variable):
        root = Path(os.environ[variable], folder)
    if not root:
        return None
    found = sorted(p for p in Path(root).glob(pattern) if p.is_file())
    return str(found[-1]) if found else None


MODEL_HELP = (
    "exported ONNX model or " + SHIPPED_HELP + " (None: the reference model shipped with "
    "kanjinet, 3,036 characters, trained on synthetic data)"
)
WORD_MODEL_HELP = (
    "the word pad's model: an exported ONNX model or " + SHIPPED_HELP + f" (None: "
    f"{READ_MODEL!r}, the model `kanjinet read` uses: kanji, hiragana and katakana)"
)
WORD_MAPPING_HELP = "class mapping JSON of --word-model; if not given, the *_mapping.json beside it"


@dataclass
class PageFiles:
    """What `serve` and `web-build` both put on the page: its models and onnxruntime-web."""

    model: Path | None = opt(None, help=MODEL_HELP)
    mapping: Path | None = opt(
        None, help="class mapping JSON; if not given, the *_mapping.json beside the model"
    )
    word_model: Path | None = opt(None, help=WORD_MODEL_HELP)
    word_mapping: Path | None = opt(None, help=WORD_MAPPING_HELP)
    ort_dir: Path | None = opt(
        None,
        help="directory with onnxruntime-web's dist files; if not given, the copy shipped "
        "with kanjinet",
    )


@dataclass
class ServeConfig(PageFiles):
    host: str = opt("127.0.0.1", help="address to bind; 0.0.0.0 exposes the page to the network")
    port: int = opt(8000, help="port to listen on (0: any free port)", min=0, max=65535)

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass
class WebBuildConfig(PageFiles):
    out: Path = opt(Path("site"), help="output directory for the static page")


def find_ort_dist(ort_dir: Path | None) -> Path:
    """The directory holding onnxruntime-web's WASM files; an error telling how to get them."""
    repo_root = Path(__file__).resolve().parents[3]
    candidates = [ort_dir] if ort_dir else [ORT_SHIPPED, repo_root / ORT_PACKAGE_DIST]
    for directory in candidates:
        if all((directory / name).is_file() for name in ORT_FILES):
            return directory
    where = candidates[0] if ort_dir else " or ".join(str(c) for c in candidates)
    raise KanjinetError(
        f"{shown(where)}: onnxruntime-web files ({', '.join(ORT_FILES)}) not found; "
        "reinstall kanjinet (its wheel ships them) or pass --ort-dir"
    )


def read_model(path: Path) -> bytes:
    """The model file's bytes, read once: what is checked is what is served or written."""
    check_is_file(path)
    return path.read_bytes()


def check_page_mapping(model_file: ModelFile) -> None:
    """The page reads the characters from the mapping file's class_to_char: it must be
    there (`read_model_file` has checked it against the model's class table)."""
    if model_file.mapping_file is None:
        raise KanjinetError(
            f"{shown(mapping_path(model_file.path))}: no such mapping file (the page reads "
            "the characters from it; pass --mapping, or export writes it beside the model)"
        )
    if "class_to_char" not in model_file.mapping_tables:
        raise KanjinetError(
            f"{shown(model_file.mapping_file)}: no class_to_char, the table the page reads "
            "the characters from"
        )


def site_config(model_file: ModelFile) -> dict:
    """What the page reads first (config.json): where the files are, the input layout and
    what to tell the person about the model."""
    model, size = model_file.path, model_file.image_size
    return {
        "format": SITE_FORMAT,
        "model": SITE_MODEL,
        "model_name": "the kanjinet reference model" if is_reference(model) else model.name,
        "trained_on": training_summary(model_file.model_info),
        "mapping": SITE_MAPPING,
        "ort_dir": "ort/",
        "input_name": model_file.input_name,
        "output_name": model_file.output_name,
        "input_size": [size, size],
        "num_classes": len(model_file.class_jis),
        "normalization": model_file.normalization,
    }


def is_reference(model: Path) -> bool:
    return model.resolve() == REFERENCE_MODEL.resolve()


def page_model(model: Path, mapping: Path | None) -> tuple[bytes, bytes, dict]:
    """A model the page runs, checked against its mapping (the given one, else the one
    beside it): the model's bytes, the mapping's bytes and the page's config for them."""
    model_bytes = read_model(model)
    model_file = read_model_file(model, mapping, model_bytes)
    check_page_mapping(model_file)
    return model_bytes, model_file.mapping_bytes, site_config(model_file)


def word_pad_files(
    model: Path | None, mapping: Path | None, main_files: tuple[bytes, bytes]
) -> tuple[dict[str, bytes], dict]:
    """The word pad's model and mapping as site files, and config.json's "word" entry
    for them; the main model's files serve it when they are the same bytes."""
    model_bytes, mapping_bytes, config = page_model(
        model_or_reference(model or READ_MODEL), mapping
    )
    entry = {key: value for key, value in config.items() if key not in ("format", "ort_dir")}
    if (model_bytes, mapping_bytes) == main_files:
        return {}, entry  # config's model and mapping already name the main files
    entry.update(model=SITE_WORD_MODEL, mapping=SITE_WORD_MAPPING)
    return {SITE_WORD_MODEL: model_bytes, SITE_WORD_MAPPING: mapping_bytes}, entry


def site_files(
    model: Path | None,
    mapping: Path | None,
    ort_dir: Path | None,
    word_model: Path | None = None,
    word_mapping: Path | None = None,
) -> dict[str, Path | bytes]:
    """Every file of the page: site path -> source file, or contents for generated ones.

    Checks everything first (each model is ONNX, its mapping matches it, onnxruntime-web
    is present), so a bad input is refused before anything is served or written.
    """
    model_bytes, mapping_bytes, config = page_model(model_or_reference(model), mapping)
    word_files, config["word"] = word_pad_files(
        word_model, word_mapping, (model_bytes, mapping_bytes)
    )
    ort_dist = find_ort_dist(ort_dir)
    files: dict[str, Path | bytes] = {name: WEB_DIR / name for name in PAGE_FILES}
    files.update({f"ort/{name}": ort_dist / name for name in ORT_FILES})
    files[SITE_MODEL] = model_bytes
    files[SITE_MAPPING] = mapping_bytes
    files.update(word_files)
    config["site_files"] = sorted([*files, SITE_CONFIG])  # what a rebuild may replace
    files[SITE_CONFIG] = json.dumps(config, ensure_ascii=False, indent=1).encode("utf-8")
    return files


def content_type(name: str) -> str:
    return MIME_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def read_bytes(source: Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else source.read_bytes()


class SiteHandler(BaseHTTPRequestHandler):
    """Serves a fixed table of files (no directory listing, nothing outside the table) to
    requests whose Host names this server (`SiteServer.names_this_server`)."""

    server_version = "kanjinet"
    #: Seconds a connection may sit without sending (a read timeout): idle or slow clients
    #: give their slot back (SiteServer.MAX_CONNECTIONS) instead of holding it for ever.
    timeout = 10

    def __init__(self, *args, files: dict[str, Path | bytes], **kwargs) -> None:
        self.files = files
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_file(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_file(with_body=False)

    def end_headers(self) -> None:
        # On every response, error pages too: the browser takes the declared type as final.
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def send_file(self, with_body: bool) -> None:
        host = self.headers.get("Host")
        if not self.server.names_this_server(host):
            # A page on another site whose name was re-pointed at this machine (DNS
            # rebinding) sends its own name: it must not read the model.
            self.send_error(HTTPStatus.MISDIRECTED_REQUEST, f"Host {host!r} is not this server")
            return
        name = self.path.split("?", 1)[0].split("#", 1)[0].lstrip("/") or "index.html"
        source = self.files.get(name)
        if source is None:
            self.send_error(HTTPStatus.NOT_FOUND, f"{name}: not part of the kanjinet demo")
            return
        try:
            body = read_bytes(source)
        except FileNotFoundError:  # e.g. a page file deleted while serving
            self.send_error(HTTPStatus.NOT_FOUND, f"{name}: {source} is gone from disk")
            return
        except OSError as error:
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{name}: {error.strerror}")
            return
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type(name))
            self.send_header("Content-Length", str(len(body)))
            # The model and page change between runs of `serve`; never serve a stale one.
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            if with_body:
                self.wfile.write(body)
        except ConnectionError:  # the browser closed the tab or reloaded: routine
            self.log_message("%s: the client went away before the end", name)
            self.close_connection = True

    def log_request(self, code="-", size="-") -> None:
        # Successful requests are routine; only failures are worth a line on stderr.
        if isinstance(code, int | HTTPStatus) and int(code) >= 400:
            super().log_request(code, size)


def host_and_port(value: str | None) -> tuple[str, int | None] | None:
    """A Host header's name (lower case, IPv6 without brackets) and port; None if malformed."""
    from urllib.parse import urlsplit

    if not value or any(c in value for c in "/?#@ \t"):
        return None
    try:
        parts = urlsplit(f"//{value}")
        return (parts.hostname or "", parts.port)
    except ValueError:
        return None


def is_ip_literal(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class SiteServer(ThreadingHTTPServer):
    """The demo's server: answers only requests addressed to it, at most MAX_CONNECTIONS
    at a time; a client that drops its connection is one line, not a traceback."""

    daemon_threads = True
    #: Connections served at once (a browser opens about 6); one more is closed at once
    #: rather than given a thread, so idle sockets cannot make threads without bound.
    MAX_CONNECTIONS = 32

    def __init__(self, address: tuple[str, int], handler, family: int) -> None:
        self.address_family = family
        self.slots = threading.BoundedSemaphore(self.MAX_CONNECTIONS)
        super().__init__(address, handler)

    def server_bind(self) -> None:
        import socket

        if self.address_family == socket.AF_INET6 and self.server_address[0] in ALL_INTERFACES:
            # `--host ::` means every interface, IPv4 too, whatever the system's default.
            with contextlib.suppress(OSError):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def names_this_server(self, value: str | None) -> bool:
        """Whether a Host header names this server: a loopback name, the --host given or
        (bound to every interface) an address of this machine, with the served port."""
        parsed = host_and_port(value)
        if parsed is None:
            return False
        name, port = parsed
        host, served_port = self.server_address[:2]
        if port != served_port and not (port is None and served_port == 80):
            return False
        names = {"localhost", "127.0.0.1", "::1", host.lower()}
        if host in ALL_INTERFACES:
            # A rebinding attack needs a domain name; an address names this machine itself.
            return name in names or name in local_names() or is_ip_literal(name)
        return name in names

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            print(
                f"kanjinet serve: {client_address[0]}: connection closed by the client "
                f"({type(error).__name__})",
                file=sys.stderr,
            )
            return
        super().handle_error(request, client_address)


def local_names() -> set[str]:
    """This machine's host name and network address, in lower case."""
    import socket

    return {socket.gethostname().lower(), network_address().lower()}


def address_family(host: str, port: int) -> int:
    """AF_INET6 for an IPv6 address (`::1`, `::`) or a name that resolves only to one,
    else AF_INET."""
    import socket

    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (OSError, UnicodeError):
        return socket.AF_INET  # binding then fails and says why
    families = [entry[0] for entry in found]
    return socket.AF_INET if socket.AF_INET in families else families[0]


def make_server(config: ServeConfig) -> ThreadingHTTPServer:
    """A bound (not yet serving) server for the demo; port 0 picks a free port. Every file
    is read once here: what is served is what was checked, whatever happens on disk."""
    site = site_files(
        config.model, config.mapping, config.ort_dir, config.word_model, config.word_mapping
    )
    files = {name: read_bytes(source) for name, source in site.items()}
    handler = functools.partial(SiteHandler, files=files)
    family = address_family(config.host, config.port)
    try:
        server = SiteServer((config.host, config.port), handler, family)
    except OSError as error:
        raise KanjinetError(f"{config.host}:{config.port}: cannot listen ({error})") from None
    return server


#: Addresses that bind every interface: the page is then reachable from the network.
ALL_INTERFACES = ("0.0.0.0", "::", "")


def network_address() -> str:
    """This machine's address on its network (where its default route leaves from), else
    its host name. A UDP connect sends nothing; TEST-NET-1 is never a real peer."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            return probe.getsockname()[0]
    except OSError:
        return socket.gethostname()


def server_url(server: ThreadingHTTPServer) -> str:
    """The page's address: for a server on every interface, the one others can reach."""
    host, port = server.server_address[:2]
    shown = network_address() if host in ALL_INTERFACES else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/"


def announcement(server: ThreadingHTTPServer) -> list[str]:
    """What `serve` prints on starting: the address, the model, and a warning on every
    interface."""
    site = json.loads(server.RequestHandlerClass.keywords["files"][SITE_CONFIG])
    lines = [f"kanjinet serve: {server_url(server)}  (Ctrl+C stops)"]
    host, port = server.server_address[:2]
    if host in ALL_INTERFACES:
        lines.append(
            f"kanjinet serve: warning: --host {host or 'all'} makes the page reachable from "
            f"the network by anyone who can reach this machine; also http://127.0.0.1:{port}/ "
            "here (--host 127.0.0.1 keeps it to this machine)"
        )
    lines.append(
        f"kanjinet serve: {site['model_name']}, {site['num_classes']:,} characters, "
        f"{site['trained_on']}"
    )
    return lines


def run_serve(config: ServeConfig) -> int:
    server = make_server(config)
    for line in announcement(server):
        print(line, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("kanjinet serve: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def build_manifest(directory: Path) -> set[str] | None:
    """The files an earlier web-build wrote to `directory` (its config.json's `site_files`;
    for a build that did not list them, the files this kanjinet writes), or None if
    `directory` is not a web-build output."""
    try:
        config = json.loads((directory / SITE_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or config.get("format") != SITE_FORMAT:
        return None
    listed = config.get("site_files")
    if isinstance(listed, list) and all(isinstance(name, str) for name in listed):
        return set(listed)
    return {*PAGE_FILES, *(f"ort/{name}" for name in ORT_FILES), SITE_MODEL, SITE_MAPPING,
            SITE_CONFIG}  # fmt: skip


def foreign_entries(directory: Path, manifest: set[str]) -> list[str]:
    """What in `directory` an earlier build did not write (a folder counts as written when
    it holds written files), as relative names, folders with a trailing slash."""
    folders = {str(Path(name).parent.as_posix()) for name in manifest} - {"."}
    foreign = []
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        written = not path.is_symlink() and (
            name in manifest or (path.is_dir() and name in folders)
        )
        inside_named = any(name.startswith(f) for f in foreign if f.endswith("/"))
        if not written and not inside_named:
            foreign.append(name + "/" if path.is_dir() and not path.is_symlink() else name)
    return foreign


def check_replaceable(out: Path) -> None:
    """`out` may be replaced: absent, empty, or an earlier build holding only its own files
    (a file the user added is never deleted: the folder is refused, naming it)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise KanjinetError(f"{shown(out)}: exists and is not a directory")
    if not any(out.iterdir()):
        return
    manifest = build_manifest(out)
    if manifest is None:
        raise KanjinetError(
            f"{shown(out)}: directory is not empty and not a kanjinet web-build output"
        )
    foreign = foreign_entries(out, manifest)
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise KanjinetError(
            f"{shown(out)}: holds files web-build did not write "
            f"({', '.join(shown(name) for name in foreign[:3])}{more}); move them elsewhere "
            "or choose another --out, so that replacing the build deletes nothing of yours"
        )


def write_site(files: dict[str, Path | bytes], out: Path) -> None:
    """Write the site into `out` whole: built beside it, then swapped in by rename. An
    `out` that is a symbolic link keeps pointing where it did: the folder it names is
    the one replaced."""
    out = out.resolve() if out.is_symlink() else out
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".kn-site-", dir=out.parent))  # short: see atomic.py
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a web host must read it
        for name, source in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(read_bytes(source))
        if out.exists():
            remove_tree(out)
        replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run_web_build(config: WebBuildConfig) -> int:
    files = site_files(
        config.model, config.mapping, config.ort_dir, config.word_model, config.word_mapping
    )
    write_site(files, config.out)
    print(f"kanjinet web-build: wrote {len(files)} files to {shown(config.out)}")
    print(
        "serve it with any static host that sends .wasm as application/wasm, "
        f"e.g. python -m http.server -d {shlex.quote(str(config.out))}"
    )
    return 0
