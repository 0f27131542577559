"""`kanjinet serve`: the browser demo on localhost, where a character drawn on the page is
recognised by the exported ONNX model in WebAssembly.

Inference runs in the browser (onnxruntime-web, WASM backend): the server only hands
out files (`page.site_files`, checked and read once), all of them local
(onnxruntime-web's WASM build ships inside the package, in `web/ort/`), so the page
works offline and from a pip install; `kanjinet web-build` (`web_build.py`) writes the
same files to a folder for any static host. Without `--model` it serves the shipped
reference model. Imports onnx (to check the model), never torch.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from kanjinet.core.errors import KanjinetError
from kanjinet.core.options import check_settings, opt
from kanjinet.web.page import SITE_CONFIG, PageFiles, read_bytes, site_files
from kanjinet.web.site_server import (
    ALL_INTERFACES,
    SiteHandler,
    SiteServer,
    address_family,
    network_address,
)


@dataclass
class ServeConfig(PageFiles):
    host: str = opt("127.0.0.1", help="address to bind; 0.0.0.0 exposes the page to the network")
    port: int = opt(8000, help="port to listen on (0: any free port)", min=0, max=65535)

    def __post_init__(self) -> None:
        check_settings(self)


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
