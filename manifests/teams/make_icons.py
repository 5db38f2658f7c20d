"""Draw the Teams app icons (a shipping box) with the standard library only; the PNGs are committed.

Teams wants ``color.png`` 192×192 in full colour and ``outline.png`` 32×32, white on a transparent
background (https://learn.microsoft.com/en-us/microsoftteams/platform/concepts/build-and-test/apps-package).
Run ``python manifests/teams/make_icons.py`` after changing the drawing; the output is deterministic.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

Colour = tuple[int, int, int, int]
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 on a 32×32 grid, end-exclusive

ACCENT: Colour = (0xC2, 0x41, 0x0C, 255)  # the manifest's accentColor
WHITE: Colour = (255, 255, 255, 255)
CLEAR: Colour = (0, 0, 0, 0)

LID: Rect = (5, 8, 27, 12)  # a one-unit gap to the body is the seam under the lid
BODY: Rect = (7, 13, 25, 27)
TAPE: Rect = (14, 8, 18, 18)  # the strip of tape over the lid and down the front
LABEL: Rect = (10, 20, 15, 23)  # the shipping label


class Canvas:
    def __init__(self, size: int, background: Colour) -> None:
        self.size = size
        self.pixels = [[background] * size for _ in range(size)]

    def fill(self, rect: Rect, colour: Colour, scale: int) -> None:
        x0, y0, x1, y1 = (v * scale for v in rect)
        for y in range(max(y0, 0), min(y1, self.size)):
            for x in range(max(x0, 0), min(x1, self.size)):
                self.pixels[y][x] = colour

    def outline(self, rect: Rect, colour: Colour, scale: int) -> None:
        """The rectangle's four edges, one grid unit wide."""
        x0, y0, x1, y1 = rect
        for edge in ((x0, y0, x1, y0 + 1), (x0, y1 - 1, x1, y1), (x0, y0, x0 + 1, y1), (x1 - 1, y0, x1, y1)):
            self.fill(edge, colour, scale)

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(c for pixel in row for c in pixel) for row in self.pixels)

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.size, self.size, 8, 6, 0, 0, 0)  # 8-bit RGBA
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def colour_icon() -> bytes:
    """192×192: a white box with orange tape and label on the accent colour."""
    canvas, scale = Canvas(192, ACCENT), 6
    canvas.fill(LID, WHITE, scale)
    canvas.fill(BODY, WHITE, scale)
    canvas.fill(TAPE, ACCENT, scale)
    canvas.fill(LABEL, ACCENT, scale)
    return canvas.png()


def outline_icon() -> bytes:
    """32×32: the same box as white lines on transparency."""
    canvas = Canvas(32, CLEAR)
    for part in (LID, BODY, TAPE):
        canvas.outline(part, WHITE, 1)
    canvas.fill(LABEL, WHITE, 1)
    return canvas.png()


def main() -> None:
    here = Path(__file__).resolve().parent
    (here / "color.png").write_bytes(colour_icon())
    (here / "outline.png").write_bytes(outline_icon())


if __name__ == "__main__":
    main()
