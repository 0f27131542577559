"""`kanjinet web-build`: the page's files written to a folder for any static host, whole
(built beside it, then swapped in), replacing only an earlier build's own files."""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kanjinet.core.atomic import remove_tree, replace
from kanjinet.core.errors import KanjinetError, shown
from kanjinet.core.options import opt
from kanjinet.web.page import (
    ORT_FILES,
    PAGE_FILES,
    SITE_CONFIG,
    SITE_FORMAT,
    SITE_MAPPING,
    SITE_MODEL,
    PageFiles,
    read_bytes,
    site_files,
)


@dataclass
class WebBuildConfig(PageFiles):
    out: Path = opt(Path("site"), help="output directory for the static page")


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
