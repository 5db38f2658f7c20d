"""stockbot.toml: defaults, ${ENV} substitution, and errors that name the key and the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from stockbot.bot.config import ConfigError, load_config, parse_config, parse_duration

EXAMPLE = Path(__file__).resolve().parents[1] / "bot" / "stockbot.example.toml"


def test_no_file_at_all_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOCKBOT_CONFIG", raising=False)
    config = load_config()
    assert (config.server.host, config.server.port) == ("127.0.0.1", 3978)
    assert config.storage.url == "sqlite+aiosqlite:///stockbot.db"


def test_env_vars_are_substituted_and_missing_ones_named() -> None:
    raw = {"sources": {"erp": {"secret": "${ERP_SECRET}"}}}
    config = parse_config(raw, env={"ERP_SECRET": "s" * 20})
    assert config.sources["erp"].secret.get_secret_value() == "s" * 20
    with pytest.raises(
        ConfigError, match=r"sources\.erp\.secret: environment variable ERP_SECRET is not set"
    ):
        parse_config(raw, env={})
    assert parse_config({"server": {"host": "${HOST:-0.0.0.0}"}}, env={}).server.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"server": {"prot": 1}}, r"server\.prot: unknown key; remove it or check its spelling"),
        ({"server": {"port": "eighty"}}, r"server\.port: "),
        (
            {"channels": {"x": {"adapter": "slak", "address": "C1"}}},
            r"channels\.x\.adapter: unknown adapter 'slak'",
        ),
        (
            {"channels": {"x": {"adapter": "twilio_sms", "address": "+1"}}},
            r"channels\.x\.adapter: .twilio_sms. needs account settings; add a \[adapters\.twilio_sms\]",
        ),
        ({"routes": [{"channels": ["nowhere"]}]}, r"routes\[0\]\.channels: no channel is called 'nowhere'"),
        (
            {"routes": [{"match": {"severity": ["urgent"]}}]},
            r"routes\[0\]\.match\.severity\[0\]: Input should be .low., .out. or .critical.",
        ),
        ({"alerts": {"reopen_cooldown": "soon"}}, r"alerts\.reopen_cooldown: 'soon' is not a duration"),
        ({"sources": {"erp": {"secret": "short"}}}, r"sources\.erp\.secret: use at least 16"),
        ({"adapters": {"jira": {"base_url": "https://x.atlassian.net"}}}, r"adapters\.jira"),
        ({"adapters": {"nosuch": {}}}, r"adapters\.nosuch: no adapter is called 'nosuch'"),
        ({"storage": {"url": "mysql://x"}}, r"storage\.url: use sqlite:///"),
    ],
)
def test_errors_name_the_key_and_the_fix(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, env={})


def test_a_broken_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "stockbot.toml"
    path.write_text("[server\nport = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")


def test_durations() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("45s") == timedelta(seconds=45)
    assert parse_duration(90) == timedelta(seconds=90)
    with pytest.raises(ValueError):
        parse_duration("")


def test_the_example_config_is_valid_with_its_env_vars_set() -> None:
    import re

    text = EXAMPLE.read_text()
    env = {name: "x" * 24 for name in re.findall(r"\$\{([A-Z0-9_]+)\}", text)}
    env.update({"SLACK_BOT_TOKEN": "xoxb-example-token-1", "SLACK_APP_TOKEN": "xapp-example-token-1"})
    env.update({"TWILIO_ACCOUNT_SID": "AC" + "0" * 32})
    config = load_config(EXAMPLE, env=env)
    assert config.channels and config.routes and config.sources


def test_one_run_names_every_missing_variable_and_every_invalid_value() -> None:
    import re

    used = "\n".join(line.split("#")[0] for line in EXAMPLE.read_text().splitlines())
    names = sorted(set(re.findall(r"\$\{([A-Z0-9_]+)\}", used)))
    with pytest.raises(ConfigError) as raised:
        load_config(EXAMPLE, env={})
    message = str(raised.value)
    assert len(names) > 20
    assert [name for name in names if f"environment variable {name} is not set" not in message] == []
    # an empty value stands in for a missing variable: it is not reported a second time as invalid
    assert "use at least 16" not in message

    raw = {
        "server": {"port": "eighty"},
        "alerts": {"reopen_cooldown": "soon"},
        "sources": {"erp": {"secret": "${ERP_SECRET}"}},
        "routes": [{"channels": ["nowhere"]}],
    }
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, env={})
    lines = str(raised.value).splitlines()
    assert any(line.startswith("server.port: ") for line in lines)
    assert any(line.startswith("alerts.reopen_cooldown: 'soon' is not a duration") for line in lines)
    assert any(line.startswith("sources.erp.secret: environment variable ERP_SECRET") for line in lines)


def test_an_invalid_chat_section_is_not_also_called_missing() -> None:
    raw = {
        "slack": {"bot_token": "not-a-bot-token", "signing_secret": "s" * 32},
        "channels": {"sales": {"adapter": "slack", "address": "C0123SALES"}},
    }
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, env={})
    message = str(raised.value)
    assert message.startswith("slack.bot_token: ")
    assert "add a [slack] section" not in message
