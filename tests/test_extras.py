"""Optional vendor SDKs: each is an extra, and a config that needs a missing one is refused when it is read.

The "missing" SDKs are really missing for the process under test: a ``sitecustomize`` on its PYTHONPATH
puts an import blocker first on ``sys.meta_path``, so ``import twilio`` fails there exactly as it does on an
install without the extra. The real ``stockbot`` command runs; nothing of stockbot is patched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from stockbot.adapters import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
STOCKBOT = str(Path(sys.executable).with_name("stockbot"))

BLOCKER = '''
import os
import sys
from importlib.abc import MetaPathFinder

BLOCKED = frozenset(os.environ["STOCKBOT_TEST_BLOCK"].split(","))


class Blocker(MetaPathFinder):
    """Refuses the blocked top-level packages as if they were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
'''

ADAPTER_SECTIONS = """
[adapters.twilio_sms]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "twilio-token"
from_number = "+15550001111"

[adapters.sendgrid]
api_key = "SG.sendgrid-key"
from_email = "stockbot@example.com"

[adapters.sns]
region = "us-east-1"

[channels.sms]
adapter = "twilio_sms"
address = "+15551234567"

[channels.mail]
adapter = "sendgrid"
address = "buyer@example.com"

[channels.topic]
adapter = "sns"
address = "arn:aws:sns:us-east-1:123456789012:stock-alerts"

[channels.push]
adapter = "apprise"
address = "json://hooks.example.com/stock"
"""
POSTGRES = '[storage]\nurl = "postgresql://stockbot@127.0.0.1:5432/stockbot"\n'

# apprise has no section (its settings all have defaults), so its error names the channel instead.
ADAPTER_PROBLEMS = [
    "adapters.twilio_sms: the twilio_sms adapter needs the twilio package (No module named 'twilio'): "
    "pip install 'stockbot[twilio]'",
    "adapters.sendgrid: the sendgrid adapter needs the sendgrid package (No module named 'sendgrid'): "
    "pip install 'stockbot[sendgrid]'",
    "adapters.sns: the sns adapter needs the boto3 package (No module named 'boto3'): "
    "pip install 'stockbot[sns]'",
    "channels.push.adapter: the apprise adapter needs the apprise package (No module named 'apprise'): "
    "pip install 'stockbot[apprise]'",
]
POSTGRES_PROBLEM = (
    "storage.url: PostgreSQL needs the asyncpg package (No module named 'asyncpg'): "
    "pip install 'stockbot[postgres]'"
)


def stockbot(args: list[str], config: Path, blocked: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the installed ``stockbot`` command with ``blocked`` packages unimportable."""
    blocker_dir = config.parent / "blocker"
    blocker_dir.mkdir(exist_ok=True)
    (blocker_dir / "sitecustomize.py").write_text(BLOCKER)
    env = {
        **os.environ,
        "PYTHONPATH": str(blocker_dir),
        "STOCKBOT_TEST_BLOCK": ",".join(blocked),
        "NO_COLOR": "1",
    }
    # A timeout, not a hang, if `serve` were ever to start despite the missing packages.
    return subprocess.run(
        [STOCKBOT, *args, "--config", str(config)], capture_output=True, text=True, timeout=60, env=env
    )


def problems(stderr: str) -> list[str]:
    """The config problems listed after ``error: invalid config`` and the file name."""
    lines = stderr.strip().splitlines()
    assert lines[0] == "error: invalid config", stderr
    assert lines[1].endswith(".toml:"), stderr
    return lines[2:]


@pytest.fixture
def adapters_config(tmp_path: Path) -> Path:
    path = tmp_path / "adapters.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "x.db"}"\n' + ADAPTER_SECTIONS)
    return path


def test_the_same_config_is_valid_with_every_extra_installed(tmp_path: Path) -> None:
    # The control: without the blocker this config passes, so the refusals below come from the blocker.
    path = tmp_path / "everything.toml"
    path.write_text(POSTGRES + ADAPTER_SECTIONS)
    result = stockbot(["config", "check"], path, blocked=[])
    assert result.returncode == 0, result.stderr
    assert "config is valid" in result.stdout


@pytest.mark.parametrize("command", [["config", "check"], ["serve", "--port", "0"]])
def test_a_channel_whose_sdk_is_missing_is_refused_naming_the_extra(
    command: list[str], adapters_config: Path
) -> None:
    result = stockbot(command, adapters_config, blocked=["twilio", "sendgrid", "boto3", "apprise"])
    assert result.returncode == 2, result.stdout + result.stderr
    assert problems(result.stderr) == ADAPTER_PROBLEMS


def test_only_the_missing_sdk_is_named(adapters_config: Path) -> None:
    result = stockbot(["config", "check"], adapters_config, blocked=["boto3"])
    assert result.returncode == 2, result.stderr
    assert problems(result.stderr) == [ADAPTER_PROBLEMS[2]]


def test_a_postgresql_url_without_asyncpg_is_refused_naming_the_extra(tmp_path: Path) -> None:
    path = tmp_path / "postgres.toml"
    path.write_text(POSTGRES)
    result = stockbot(["config", "check"], path, blocked=["asyncpg"])
    assert result.returncode == 2, result.stderr
    assert problems(result.stderr) == [POSTGRES_PROBLEM]


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0].lower() for r in requirements}


def test_every_optional_sdk_is_an_extra_kept_out_of_the_default_install() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    default = _requirement_names(project["dependencies"])
    wanted = {extra: module for module, extra in EXTRAS.values()} | {"postgres": "asyncpg"}
    for extra, module in wanted.items():
        # Each SDK's distribution is named like the module it provides (twilio, sendgrid, boto3, asyncpg).
        assert _requirement_names(extras[extra]) == {module}, extra
        assert module not in default, f"{module} is in the default install; it belongs in [{extra}]"
    (self_reference,) = [r for r in extras["test"] if r.startswith("stockbot[")]
    assert set(self_reference.removeprefix("stockbot[").rstrip("]").split(",")) == set(wanted)
