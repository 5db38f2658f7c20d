"""The Teams app package: what "Upload a custom app" needs, with the ids filled and valid icons.

The filled manifest is validated against Microsoft's official v1.19 schema (``../shared/manifest-schemas``),
which owns the shape and the limits; the tests here check the values stockbot fills in and what the schema,
read as the Draft 4 it declares, cannot enforce.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from jsonschema.protocols import Validator

from stockbot.handlers.cli.teams_package import MANIFEST_DIR, build_package, png_info
from stockbot.handlers.cli.teams_package import manifest as filled_manifest
from tests.fakes.shared import manifest_validator, schema_errors

APP_ID = "6F1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"
HOST = "stockbot.example.com"


def _pixels(data: bytes) -> list[list[tuple[int, ...]]]:
    """Decode an 8-bit RGBA PNG (any row filter) into rows of (r, g, b, a)."""
    width, height, colour_type = png_info(data)
    assert colour_type == 6 and data[24] == 8, "expected 8-bit RGBA"
    idat, offset = b"", 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            idat += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw, stride, rows, previous = zlib.decompress(idat), width * 4, [], bytes(width * 4)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for i in range(stride):
            left = row[i - 4] if i >= 4 else 0
            up, up_left = previous[i], previous[i - 4] if i >= 4 else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        rows.append([tuple(row[x : x + 4]) for x in range(0, stride, 4)])
        previous = bytes(row)
    return rows


@pytest.fixture
def package(tmp_path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(build_package(APP_ID, HOST, tmp_path / "stockbot.zip"))


@pytest.fixture(scope="module")
def schema() -> Validator:
    return manifest_validator("teams-manifest-1.19.schema.json", Draft4Validator)


def test_packaged_manifest_is_valid_under_the_teams_schema(
    package: zipfile.ZipFile, schema: Validator
) -> None:
    assert schema_errors(schema, json.loads(package.read("manifest.json"))) == []


def _long_short_name(m: dict[str, Any]) -> None:
    m["name"]["short"] = "stockbot out-of-stock alerts 24/7"  # 33 > 30 characters


def _bot_id_not_a_guid(m: dict[str, Any]) -> None:
    m["bots"][0]["botId"] = "stockbot"


def _long_command_hint(m: dict[str, Any]) -> None:
    m["bots"][0]["commandLists"][0]["commands"][0]["description"] = "x" * 129


def _unknown_scope(m: dict[str, Any]) -> None:
    m["bots"][0]["scopes"].append("meeting")


@pytest.mark.parametrize(
    ("mistake", "where"),
    [
        (_long_short_name, "name.short"),
        (_bot_id_not_a_guid, "bots.0.botId"),
        (_long_command_hint, "bots.0.commandLists.0.commands.0.description"),
        (_unknown_scope, "bots.0.scopes.3"),
    ],
)
def test_the_schema_catches_an_injected_mistake(
    mistake: Callable[[dict[str, Any]], None], where: str, schema: Validator
) -> None:
    broken = filled_manifest(APP_ID, HOST)
    mistake(broken)
    assert where in {path for path, _ in schema_errors(schema, broken)}


def test_zip_has_the_manifest_and_icons_at_its_root(package: zipfile.ZipFile) -> None:
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
    assert package.testzip() is None


def test_manifest_has_the_ids_and_host_filled(package: zipfile.ZipFile) -> None:
    manifest = json.loads(package.read("manifest.json"))
    assert "{{" not in json.dumps(manifest)
    assert (
        manifest["$schema"]
        == "https://developer.microsoft.com/json-schemas/teams/v1.19/MicrosoftTeams.schema.json"
    )
    # The schema says `"const": "1.19"`, a keyword Draft 4 does not have: it is checked here instead.
    assert manifest["manifestVersion"] == "1.19"
    assert manifest["id"] == APP_ID.lower()
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID.lower()
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert manifest["validDomains"] == [HOST]
    assert all(
        url.startswith(f"https://{HOST}/") for key, url in manifest["developer"].items() if key != "name"
    )
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}


def test_manifest_lists_the_commands(package: zipfile.ZipFile) -> None:
    (bot,) = json.loads(package.read("manifest.json"))["bots"]
    personal, shared = bot["commandLists"]
    # `alerts` is a person's own list, with their own buttons: offered in personal chats only.
    assert personal["scopes"] == ["personal"] and shared["scopes"] == ["team", "groupChat"]
    commands = {c["title"]: c["description"] for c in personal["commands"]}
    assert list(commands) == ["alerts", "stock", "oos", "help"]
    assert commands["alerts"].startswith("alerts [location]")
    assert commands["stock"].startswith("stock <SKU or words>")
    assert commands["oos"].startswith("oos [clear] <SKU> [location] [reason]")
    assert [c["title"] for c in shared["commands"]] == ["stock", "oos", "help"]


def test_colour_icon_is_192_square_in_full_colour(package: zipfile.ZipFile) -> None:
    data = package.read("color.png")
    assert png_info(data)[:2] == (192, 192)
    pixels = {pixel for row in _pixels(data) for pixel in row}
    assert all(a == 255 for *_, a in pixels)  # opaque
    assert len(pixels) >= 2 and any(pixel[:3] != (255, 255, 255) for pixel in pixels)


def test_outline_icon_is_32_square_white_on_transparent(package: zipfile.ZipFile) -> None:
    data = package.read("outline.png")
    assert png_info(data) == (32, 32, 6)  # RGBA
    pixels = [pixel for row in _pixels(data) for pixel in row]
    drawn = [p for p in pixels if p[3] > 0]
    assert any(p[3] == 0 for p in pixels), "needs a transparent background"
    assert drawn and all(p[:3] == (255, 255, 255) for p in drawn), "the glyph must be white"


def test_committed_icons_are_what_make_icons_draws() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_icons", MANIFEST_DIR / "make_icons.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (MANIFEST_DIR / "color.png").read_bytes() == module.colour_icon()
    assert (MANIFEST_DIR / "outline.png").read_bytes() == module.outline_icon()


def test_package_is_reproducible_and_can_go_in_a_directory(tmp_path: Path) -> None:
    first = build_package(APP_ID, HOST, tmp_path)
    assert first == tmp_path / "stockbot-teams.zip"
    again = build_package(APP_ID, HOST, tmp_path / "again.zip")
    assert first.read_bytes() == again.read_bytes()


@pytest.mark.parametrize(
    "app_id", ["", "stockbot", "6f1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d", "{6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}"]
)
def test_app_id_must_be_a_guid(tmp_path: Path, app_id: str) -> None:
    with pytest.raises(ValueError, match="not a GUID"):
        build_package(app_id, HOST, tmp_path)


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("https://stockbot.example.com", "without a scheme"),
        ("stockbot.example.com/api/messages", "without a path"),
        ("stockbot.example.com:8443", "port"),
        ("localhost", "public host name"),
        ("-bad-.example.com", "public host name"),
    ],
)
def test_host_must_be_a_bare_host_name(tmp_path: Path, host: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        build_package(APP_ID, host, tmp_path)
    assert not list(tmp_path.iterdir())
