"""What an export wrote and how its checks went (`ExportReport`), and the report
`kanjinet export` prints (`format_report`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kanjinet.core.errors import shown
from kanjinet.export.verify import Check
from kanjinet.inference.onnxfile import ExportInfo


@dataclass
class ExportReport:
    files: dict[str, Path]
    info: ExportInfo
    checks: list[Check]
    notes: list[str]
    int8: ExportInfo | None = None
    written: bool = False  # moved to the target names (only when every check passed)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def format_report(report: ExportReport) -> str:
    done = "wrote" if report.written else "not written (verification failed)"
    lines = [f"{done} {name}: {shown(path)}" for name, path in report.files.items()]
    lines.append(f"{report.info.path.name}: {report.info.size_bytes:,} bytes, opset "
                 f"{report.info.opset}, backend {report.info.backend}, pooling {report.info.pooling}")  # fmt: skip
    lines += [f"note: {note}" for note in report.notes]
    width = max(len(check.name) for check in report.checks)
    lines.append("")
    lines += [
        f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}" for c in report.checks
    ]
    lines.append("")
    lines.append("verification passed" if report.ok else "VERIFICATION FAILED")
    return "\n".join(lines)
