"""``kosmo integrations:emulate``: serve an integration's emulator on loopback."""

from __future__ import annotations

import errno
import threading

import click

from .configure_command import find_integration


class PortError(click.ClickException):
    """A port the emulator cannot serve on: a usage problem (exit 2), told in one line."""

    exit_code = 2


def _bind_problem(port: int, error: OSError) -> str:
    """What to do about it, not the socket's traceback; a busy port is the usual case."""
    if error.errno == errno.EADDRINUSE:
        return f"port {port} is in use; pick another with --port or use --port 0 (any free port)"
    reason = error.strerror or str(error)
    return f"cannot serve on port {port}: {reason}; pick another with --port or use --port 0"


@click.command(
    "integrations:emulate",
    epilog="""\b
Examples:
  kosmo integrations:emulate buildkite --port 8990
  kosmo integrations:emulate buildkite --data my-world.json

\b
Then point any client at it, e.g.
  curl -H "Authorization: Bearer bk-emulator-token" http://127.0.0.1:8990/v2/user
or a kosmo account:
  kosmo integrations:configure buildkite --account emu \\
      --set url=http://127.0.0.1:8990/v2 --set access_token=bk-emulator-token""",
)
@click.argument("name")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default="a free port")
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Load the emulator's data from this JSON file.",
)
def integrations_emulate(name: str, port: int, data_file: str | None) -> None:
    """Serve a stateful emulator of an integration's API on 127.0.0.1 until stopped."""
    integration = find_integration(name)
    if integration.emulator is None:
        raise click.UsageError(f"{integration.title} has no emulator")
    from ..emulation import load_app, serve

    emulator = load_app(integration, data_file)
    try:
        served = serve(emulator, port=port)
    except OSError as error:
        raise PortError(_bind_problem(port, error)) from None
    with served:
        click.echo(f"{integration.title} emulator serving at {served.base_url}")
        click.echo(f"Token: {emulator.token}")
        click.echo("Press Ctrl-C to stop.", err=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("Stopped.", err=True)
