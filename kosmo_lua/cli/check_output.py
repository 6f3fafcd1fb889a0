"""``integrations:lua --check``: the findings as lines (``file:line: message``) or as the
envelope under ``--json``; a script with findings fails (exit 1)."""

from __future__ import annotations

from ..errors import Failed
from . import output


def check_script(code: str, name: str, *, as_json: bool) -> None:
    from ..checker import check_result

    result = check_result(code, name)
    findings = result.meta["check"]["findings"]
    if as_json:
        output.print_envelope(result)
    else:
        for finding in findings:
            line = f"{finding['line']}:" if finding["line"] is not None else ""
            message = finding["message"]
            output.echo(message if message.startswith(f"{name}:") else f"{name}:{line} {message}")
        if not findings:
            calls = result.meta["check"]["calls"]
            output.echo(f"{name}: no problems found ({calls} calls checked; nothing was run).")
    if findings:
        count = len(findings)
        raise Failed(f"--check found {count} problem{'s' if count > 1 else ''}")
