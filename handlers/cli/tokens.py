"""``stockbot tokens``: API tokens for machines calling ``/api/v1``.

``create`` prints the token once and the ``[[api.tokens]]`` lines to paste into stockbot.toml; only the
token's hash is ever written down, so the config file (and its backups) cannot be used to call the API.
"""

from __future__ import annotations

from typing import Annotated

import typer

tokens_app = typer.Typer(help="API tokens for /api/v1.", no_args_is_help=True)
ROLES = ("rep", "warehouse", "manager")


@tokens_app.command("create")
def create(
    name: Annotated[
        str, typer.Argument(help="Who uses it (letters, digits, . _ -): shown in the audit log.")
    ],
    role: Annotated[list[str], typer.Option("--role", help="rep, warehouse or manager; repeat for several.")],
) -> None:
    """Make a new token: print it once, and the config lines that hold only its hash."""
    import re

    from stockbot.bot.access import api_token_hash, new_api_token

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise typer.BadParameter(
            "use 1 to 64 letters, digits, dots, dashes or underscores", param_hint="NAME"
        )
    unknown = [r for r in role if r not in ROLES]
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)}: roles are {', '.join(ROLES)}", param_hint="--role")
    token = new_api_token()
    roles = ", ".join(f'"{r}"' for r in dict.fromkeys(role))
    typer.echo(f"token (shown once; give it to {name} and keep it secret):\n\n    {token}\n", err=True)
    typer.echo(f'[[api.tokens]]\nname = "{name}"\nhash = "{api_token_hash(token)}"\nroles = [{roles}]')
