"""A plain, non-editable install works: build the sdist and wheel, install the wheel in a fresh venv, run it.

``python -m build`` builds the wheel from the sdist, out of the source tree, so the sdist must be complete and
no leftover ``build/`` folder can leak into the wheel. The venv has no access to this checkout or to the test
venv's site-packages: the installed ``stockbot`` finds its manifests and demo catalog as package data or not
at all. Dependencies come from the configured package index, pinned to the versions this suite runs with.
The module takes 60-70 s on the shared 2-core machine, about 26 s of it CPU (the sdist and wheel builds, the
install, then the demo, which waits 8 s in real time); ``-m "not wheel"`` leaves it out while iterating, and
CI runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = ("bot", "handlers", "adapters", "scheduler", "storage", "manifests")
# Their own extras: a default install must not pull them in.
OPTIONAL_SDKS = ("twilio", "sendgrid", "boto3", "asyncpg", "apprise")
APP_ID = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
HOST = "stockbot.example.com"

pytestmark = [pytest.mark.wheel, pytest.mark.xdist_group("wheel")]  # one build, on one worker


@dataclass
class Installed:
    wheel: Path
    venv: Path
    work: Path  # an empty working directory, away from the checkout

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        # Bytecode is written on first import (the install skipped compiling), so later commands start fast.
        dropped = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "STOCKBOT_CONFIG", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env["NO_COLOR"] = "1"
        command = [str(self.venv / "bin" / args[0]), *args[1:]]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.work, env=env
        )


def _project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def _constraints(path: Path) -> Path:
    """Pin every dependency to the version installed here, so the venv runs what the suite just tested."""
    pins = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"] and dist.metadata["Name"].lower() != "stockbot"
    )
    path.write_text("\n".join(pins) + "\n")
    return path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # From a snapshot of the checkout: other workers of the suite write bytecode, screenshots and egg-info
    # into the tree while the sdist is being collected. What is left out is what no sdist ships.
    source = tmp_path_factory.mktemp("source") / "stockbot"
    leave_out = ("__pycache__", ".venv", ".git", "test-artifacts", "build", "dist", "*.egg-info", "*.db*")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*leave_out))
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, f"python -m build failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    (found,) = dist.glob("stockbot-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("installed")
    venv = base / "venv"
    # No pip inside (it would only cost seconds); this interpreter's pip installs into it with --python.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-compile",  # compile on first import instead: only what the commands below use
            "--constraint",
            str(_constraints(base / "constraints.txt")),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    work = base / "work"
    work.mkdir()
    yield Installed(wheel, venv, work)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the wheel's contents ---------------------------------------------------------------------------------


def _shipped_sources() -> set[str]:
    """Every module of the source packages (folders with an ``__init__.py``), as the wheel should name it."""
    found = set()
    for folder in PACKAGE_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            if (path.parent / "__init__.py").exists() and "__pycache__" not in path.parts:
                found.add("stockbot/" + path.relative_to(ROOT).as_posix())
    return found


def test_the_wheel_holds_only_the_stockbot_namespace_and_its_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = f"stockbot-{_project_version()}.dist-info"
    assert {name.split("/")[0] for name in names} == {"stockbot", dist_info}
    assert {n for n in names if n.endswith(".py")} == _shipped_sources()
    expected_data = {f"stockbot/{folder}/py.typed" for folder in PACKAGE_FOLDERS} | {
        "stockbot/manifests/slack/manifest.yaml",
        "stockbot/manifests/teams/manifest.json",
        "stockbot/manifests/teams/color.png",
        "stockbot/manifests/teams/outline.png",
        "stockbot/storage/demo/catalog.csv",
        "stockbot/bot/stockbot.example.toml",  # what `stockbot init` cuts its sections from
        "stockbot/storage/migrations/script.py.mako",
        "stockbot/adapters/locale/es/LC_MESSAGES/stockbot.mo",  # compiled catalogs; .po stays in the repo
    }
    data = {n for n in names if n.startswith("stockbot/") and not n.endswith(".py")}
    assert data == expected_data


def test_the_wheel_metadata_has_the_license_and_keeps_sdks_optional(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    dist_info = f"stockbot-{_project_version()}.dist-info"
    assert archive.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    meta = Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert "Typing :: Typed" in meta.get_all("Classifier", [])
    assert set(meta.get_all("Provides-Extra", [])) >= {"twilio", "sendgrid", "sns", "postgres", "apprise"}
    unconditional = [r for r in meta.get_all("Requires-Dist", []) if "extra ==" not in r]
    assert unconditional
    for sdk in OPTIONAL_SDKS:
        assert not any(r.lower().startswith(sdk) for r in unconditional), f"{sdk} is not optional"


# --- the installed command ---------------------------------------------------------------------------------


def test_the_install_is_stockbot_alone_without_the_optional_sdks(installed: Installed) -> None:
    probe = (
        "import importlib.util, json, stockbot.bot;"
        "print(json.dumps({'bot': stockbot.bot.__file__, 'top': {n: importlib.util.find_spec(n) is not None "
        "for n in ('bot', 'handlers', 'adapters', 'scheduler', 'storage', 'manifests', "
        + ", ".join(repr(s) for s in OPTIONAL_SDKS)
        + ")}}))"
    )
    result = installed.run("python", "-c", probe)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["bot"]).is_relative_to(installed.venv)
    assert not any(found["top"].values()), found["top"]


def test_the_demo_plays_from_the_wheel(installed: Installed) -> None:
    result = installed.run(
        "stockbot",
        "demo",
        "--exit",
        "--speed",
        "20",  # the script's one real-time wait (8 s to an escalation) is the most of what is left
        "--port",
        str(_free_port()),
        "--database",
        str(installed.work / "demo.db"),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "50 arcade products" in result.stdout  # the demo catalog was found as package data
    assert "Done." in result.stdout
    assert "'resolved': 3" in result.stdout


def test_teams_package_from_the_wheel(installed: Installed) -> None:
    config = installed.work / "teams.toml"
    config.write_text(
        f'[server]\npublic_url = "https://{HOST}"\n'
        f'[teams]\napp_id = "{APP_ID}"\napp_password = "teams-client-secret"\n'
    )
    out = installed.work / "teams.zip"
    result = installed.run("stockbot", "teams", "package", "--config", str(config), "--output", str(out))
    assert result.returncode == 0, result.stderr
    package = zipfile.ZipFile(out)
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
    manifest = json.loads(package.read("manifest.json"))
    assert manifest["id"] == APP_ID
    assert manifest["validDomains"] == [HOST]
    assert package.read("color.png").startswith(b"\x89PNG")


def test_a_channel_needing_a_missing_extra_is_refused_by_the_default_install(installed: Installed) -> None:
    config = installed.work / "sms.toml"
    config.write_text('[channels.sms]\nadapter = "twilio_sms"\naddress = "+15551234567"\n')
    result = installed.run("stockbot", "config", "check", "--config", str(config))
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "channels.sms.adapter: the twilio_sms adapter needs the twilio package (No module named 'twilio'): "
        "pip install 'stockbot[twilio]'"
    ) in result.stderr


def test_init_from_the_wheel(installed: Installed) -> None:
    folder = installed.work / "fresh"
    result = installed.run("stockbot", "init", "slack", "--dir", str(folder))
    assert result.returncode == 0, result.stderr
    text = (folder / "stockbot.toml").read_text()
    assert "[slack]" in text and 'adapter = "slack"' in text  # cut from the example shipped in the wheel
    assert "SLACK_BOT_TOKEN=" in (folder / ".env").read_text()
