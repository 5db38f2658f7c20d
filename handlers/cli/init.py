"""``stockbot init``: a first ``stockbot.toml`` with only the chosen platforms, a ``.env`` of what they need.

The sections are cut, comments and all, from the commented example that ships with stockbot
(``bot/stockbot.example.toml``), so ``init`` never drifts from the documented settings: for each platform its
account section (``[slack]``, ``[teams]``, ``[adapters.NAME]``) and its example channels. A terminal channel
and one inbound source come with every file; one route sends every alert to every chosen channel.
"""

from __future__ import annotations

import re
import secrets
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer

from stockbot.adapters import ADAPTERS
from stockbot.handlers.cli.common import fail

EXAMPLE = files("stockbot.bot") / "stockbot.example.toml"
ALWAYS = ("server", "storage", "sources.erp", "roles", "channels.terminal")
_HEADER = re.compile(r"^\[\[?([^\]]+)\]\]?\s*(?:#.*)?$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
GENERATED = "STOCKBOT_ERP_SECRET"  # made here: the source secret is ours to choose


def sections(text: str) -> dict[str, str]:
    """Each ``[table]`` of the example with the lines under it, up to the next header or divider comment."""
    found: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in [*text.splitlines(), "# ---"]:
        header = _HEADER.match(line)
        if header or line.startswith("# ---"):
            if name is not None and name not in found:
                found[name] = "\n".join(lines).rstrip() + "\n"
            name, lines = (header.group(1).strip(), [line]) if header else (None, [])
        elif name is not None:
            lines.append(line)
    return found


def platform_sections(all_sections: dict[str, str], platform: str) -> list[str]:
    """The account section and the example channels of one platform."""
    account = platform if platform in ("slack", "teams") else f"adapters.{platform}"
    chosen = [all_sections[account]] if account in all_sections else []
    chosen += [
        body
        for name, body in all_sections.items()
        if name.startswith("channels.") and re.search(rf'^adapter = "{platform}"', body, re.M)
    ]
    return chosen


def channel_names(parts: list[str]) -> list[str]:
    return [m.group(1) for part in parts for m in re.finditer(r"^\[channels\.([^\]]+)\]", part, re.M)]


def render(platforms: list[str]) -> tuple[str, str]:
    """The config file and the ``.env`` text for ``platforms``."""
    example = sections(EXAMPLE.read_text())
    # The example's source names a Slack channel for its watchdog; here the one route below hears it.
    parts = [re.sub(r"^channels = .*\n", "", example[name], flags=re.M) for name in ALWAYS]
    for platform in platforms:
        parts += platform_sections(example, platform)
    route = "[[routes]]\nchannels = [" + ", ".join(f'"{c}"' for c in channel_names(parts)) + "]\n"
    config = (
        "# stockbot.toml, written by `stockbot init`. Every setting: bot/stockbot.example.toml.\n"
        "# Secrets come from the environment as ${NAME}; .env beside this file lists them.\n\n"
        + "\n".join(parts)
        + "\n# Every alert to every channel; see the README (routes, escalation policies) to narrow it.\n"
        + route
    )
    variables = sorted(set(_ENV_REF.findall("\n".join(line.split("#")[0] for line in config.splitlines()))))
    env_lines = [
        "# Environment for stockbot.toml. Fill in each value, then: set -a && . ./.env && set +a",
        "# Keep this file out of version control.",
    ]
    for name in variables:
        value = secrets.token_hex(32) if name == GENERATED else ""
        env_lines.append(f"{name}={value}")
    return config, "\n".join(env_lines) + "\n"


def init(
    platforms: Annotated[
        list[str] | None,
        typer.Argument(
            help="Platforms to configure: slack, teams, twilio_sms, sendgrid, jira, … (any adapter)."
        ),
    ] = None,
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the two files.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a stockbot.toml with only the chosen platforms, and a .env listing what they need."""
    chosen = list(dict.fromkeys(platforms or []))
    unknown = [p for p in chosen if p not in ADAPTERS or p == "console"]
    if unknown:
        known = ", ".join(sorted(set(ADAPTERS) - {"console"}))
        raise fail(f"unknown platform {', '.join(map(repr, unknown))}; choose from: {known}")
    targets = directory / "stockbot.toml", directory / ".env"
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise fail(f"{' and '.join(existing)} already exist; pass --force to overwrite")
    config, env = render(chosen)
    directory.mkdir(parents=True, exist_ok=True)
    targets[0].write_text(config)
    targets[1].write_text(env)
    targets[1].chmod(0o600)
    needed = [line.split("=")[0] for line in env.splitlines() if line.endswith("=")]
    typer.echo(f"wrote {targets[0]} ({', '.join(chosen) or 'terminal only'}) and {targets[1]}")
    if needed:
        typer.echo(f"next: fill in {', '.join(needed)} in {targets[1]}, then")
    typer.echo("  set -a && . ./.env && set +a && stockbot config check && stockbot serve")
