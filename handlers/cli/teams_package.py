"""The Teams app package: the zip an admin uploads in Teams ("Apps → Manage your apps → Upload an app").

It holds ``manifest.json`` at the root, with the bot's Microsoft App ID and stockbot's public host filled
into the ``{{APP_ID}}``/``{{HOST}}`` placeholders of ``manifests/teams/manifest.json``, and the two icons
(``color.png`` 192×192, ``outline.png`` 32×32). The zip is byte-for-byte reproducible.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from importlib.resources import files
from pathlib import Path

# Package data of stockbot.manifests: the same folder from a checkout, an editable install or a wheel.
MANIFEST_DIR = Path(str(files("stockbot.manifests") / "teams"))
PACKAGE_NAME = "stockbot-teams.zip"
ICON_SIZES = {"color.png": 192, "outline.png": 32}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entries without a build time: the same input, the same bytes


def check_app_id(app_id: str) -> str:
    if not _GUID.match(app_id):
        raise ValueError(
            f"app id {app_id!r} is not a GUID: use the bot's Microsoft App ID "
            "(Azure Bot → Configuration), e.g. 6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        )
    return app_id.lower()


def check_host(host: str) -> str:
    """A bare public host name: Teams gets ``https://HOST/`` links and ``HOST`` as the valid domain."""
    if "://" in host:
        raise ValueError(
            f"host {host!r} must be a bare host name without a scheme, e.g. stockbot.example.com"
        )
    if "/" in host or ":" in host:
        raise ValueError(f"host {host!r} must be a bare host name without a path or port")
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"host {host!r} is not a public host name like stockbot.example.com")
    return host.rstrip(".").lower()


def png_info(data: bytes) -> tuple[int, int, int]:
    """Width, height and PNG colour type (6 = RGBA) from a PNG's IHDR."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height, _depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, colour_type


def manifest(app_id: str, host: str, source: Path = MANIFEST_DIR) -> dict[str, object]:
    """The manifest with the placeholders filled in."""
    text = (source / "manifest.json").read_text()
    text = text.replace("{{APP_ID}}", check_app_id(app_id)).replace("{{HOST}}", check_host(host))
    if "{{" in text:
        raise ValueError("manifest.json has a placeholder the packager does not know")
    return json.loads(text)


def build_package(app_id: str, host: str, out: Path, source: Path = MANIFEST_DIR) -> Path:
    """Write the app package to ``out`` (a .zip path, or a directory to put stockbot-teams.zip in)."""
    filled = manifest(app_id, host, source)
    icons = {name: (source / name).read_bytes() for name in ICON_SIZES}
    for name, size in ICON_SIZES.items():
        width, height, _ = png_info(icons[name])
        if (width, height) != (size, size):
            raise ValueError(f"{name} is {width}×{height}; Teams needs {size}×{size}")
    path = out / PACKAGE_NAME if out.is_dir() else out
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = {"manifest.json": json.dumps(filled, indent=2).encode() + b"\n", **icons}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return path
