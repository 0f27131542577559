"""The demo's HTTP server: a fixed table of files served to requests addressed to this
server (`SiteHandler`, `SiteServer`), and where it listens and can be reached."""

from __future__ import annotations

import contextlib
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kanjinet.web.page import read_bytes

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


def content_type(name: str) -> str:
    return MIME_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


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
