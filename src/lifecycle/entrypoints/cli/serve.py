"""``lifecycle serve``: the HTTP service of CONTRACT §7."""

from __future__ import annotations

import logging

import click

from lifecycle.adapters import logconfig
from lifecycle.entrypoints.cli.app import Context, cli, fail


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (this machine only by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port, said on standard error).")
@click.option("--max-body", type=click.IntRange(min=256), default=64 * 1024,
              show_default=True, metavar="BYTES", help="Largest request body taken.")
@click.pass_obj
def serve_command(obj: Context, host: str, port: int, max_body: int) -> None:
    """Serve the engine over HTTP to front ends in any language (stop with Ctrl-C).

    Every request is logged on standard error (route, role, status, duration).
    """
    from lifecycle.entrypoints.http.server import listen, serve

    root = click.get_current_context().find_root().params
    logconfig.configure(json=root.get("log_json", False),
                        level=logging.DEBUG if root.get("verbose") else logging.INFO)
    _ = obj.engine  # a store that cannot be opened is a usage error before listening
    try:
        sock = listen(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        serve(obj.target, sock, engine=obj.release_engine(), max_body=max_body,
              announce=lambda line: click.echo(f"lifecycle: {line}", err=True))
    finally:
        sock.close()
