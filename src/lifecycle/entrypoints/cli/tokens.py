"""``lifecycle tokens …``: the bearer tokens of ``lifecycle serve`` (CONTRACT §7)."""

from __future__ import annotations

import json

import click

from lifecycle.adapters.tokens import Role, TokenError, TokenStore
from lifecycle.entrypoints.cli.app import Context, cli, echo_json, fail


@cli.group("tokens")
def tokens_group() -> None:
    """Bearer tokens of `lifecycle serve`: make, list, revoke."""


def _token_store(obj: Context) -> TokenStore:
    _ = obj.engine  # the store's own tables first: a token table alone is not a store
    return TokenStore(obj.target)


@tokens_group.command("create")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]),
              help="What the token may do.")
@click.option("--programme", "programmes", multiple=True, metavar="ID",
              help="A programme a coordinator's token is limited to (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the token included).")
@click.pass_obj
def tokens_create_command(obj: Context, role: str, programmes: tuple[str, ...],
                          as_json: bool) -> None:
    """Make a token and print it once: the store keeps only a keyed hash of it."""
    with _token_store(obj) as store:
        try:
            info, token = store.create(role, programmes)
        except TokenError as exc:
            fail(str(exc))
    if as_json:
        click.echo(json.dumps({**info.as_json(), "token": token}))
        return
    click.echo(token)
    scope = f" for {', '.join(info.programmes)}" if info.programmes else ""
    click.echo(f"token {info.token_id}: {info.role.value}{scope}. It is shown only now: "
               "keep it secret.", err=True)


@tokens_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def tokens_list_command(obj: Context, as_json: bool) -> None:
    """List the tokens (never the tokens themselves), revoked ones too."""
    with _token_store(obj) as store:
        infos = store.list()
    if as_json:
        echo_json([info.as_json() for info in infos])
        return
    for info in infos:
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "valid"
        scope = ",".join(info.programmes) or "-"
        click.echo(f"{info.token_id}  {info.role.value:<11} {scope:<20} "
                   f"created {info.created_at:%Y-%m-%d %H:%M}  {state}")


@tokens_group.command("revoke")
@click.argument("token_id")
@click.pass_obj
def tokens_revoke_command(obj: Context, token_id: str) -> None:
    """Revoke a token: a running service refuses it within a second."""
    with _token_store(obj) as store:
        try:
            info = store.revoke(token_id)
        except TokenError as exc:
            fail(str(exc))
    click.echo(f"token {info.token_id} revoked")
