"""Charts as inline SVG: drawn on the server, so pages need no script, no library and no network.

Pure functions from plain numbers to :class:`Markup`. Every mark carries its numbers as ``data-*``
attributes and a ``<title>`` (the browser shows it on hover; tests and screen readers read it), and each chart
has ``role="img"`` with an ``aria-label`` saying what it shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup

SEVERITY_STACK = ("low", "out", "critical")  # bottom to top: the worst sits on top, where the eye lands
WIDTH = 720
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 12, 28


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` whose half is whole too (2, 4, 6, 8, 10, 20, 50…)."""
    if value <= 10:
        return max(2, value + value % 2)
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 20 * magnitude


def _y_axis(top: float, height: float, maximum: float, width: int = WIDTH) -> Markup:
    lines = []
    for fraction in (0, 0.5, 1):
        y = top + height - height * fraction
        label = f"{maximum * fraction:g}"
        lines.append(
            Markup(
                '<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#dde1e8"/>'
                '<text x="{}" y="{:.1f}" text-anchor="end">{}</text>'
            ).format(LEFT, WIDTH - RIGHT, y, y, LEFT - 6, y + 4, label)
        )
    return Markup("").join(lines)


def _svg(height: int, label: str, css_class: str, content: Markup, width: int = WIDTH) -> Markup:
    return Markup(
        '<svg class="chart {}" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg">{}</svg>'
    ).format(css_class, width, height, label, content)


def stacked_bars(days: Sequence[tuple[str, Mapping[str, int]]], label: str, height: int = 220) -> Markup:
    """One bar per day, stacked by severity. ``days``: (label such as "11-26", {severity: count})."""
    totals = [sum(counts.get(s, 0) for s in SEVERITY_STACK) for _, counts in days]
    maximum = _nice_max(max(totals, default=0))
    plot_h = height - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    every = max(1, round(len(days) / 10))  # at most about ten date labels, so they never overlap
    marks = [_y_axis(TOP, plot_h, maximum)]
    for index, (day, counts) in enumerate(days):
        x = LEFT + index * slot + slot * 0.15
        base: float = TOP + plot_h
        for severity in SEVERITY_STACK:
            count = counts.get(severity, 0)
            if count <= 0:
                continue
            bar_h = plot_h * count / maximum
            base -= bar_h
            marks.append(
                Markup(
                    '<rect class="bar bar-{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" '
                    'data-day="{}" data-severity="{}" data-count="{}"><title>{}: {} {}</title></rect>'
                ).format(severity, x, base, slot * 0.7, bar_h, day, severity, count, day, count, severity)
            )
        if index % every == 0:
            marks.append(
                Markup('<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>').format(
                    x + slot * 0.35, height - 8, day
                )
            )
    return _svg(height, label, "stacked", Markup("").join(marks))


def histogram(
    buckets: Sequence[tuple[str, int]], label: str, height: int = 220, width: int = WIDTH
) -> Markup:
    """Vertical bars over labelled buckets ("< 5 min", "5–15 min", …), the count above each bar."""
    maximum = _nice_max(max((n for _, n in buckets), default=0))
    plot_h = height - TOP - BOTTOM - 12
    top = TOP + 12
    slot = (width - LEFT - RIGHT) / max(len(buckets), 1)
    marks = [_y_axis(top, plot_h, maximum, width)]
    for index, (name, count) in enumerate(buckets):
        bar_h = plot_h * count / maximum
        x = LEFT + index * slot + slot * 0.15
        y = top + plot_h - bar_h
        marks.append(
            Markup(
                '<rect class="bucket" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" data-bucket="{}" '
                'data-count="{}"><title>{}: {}</title></rect>'
                '<text x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>'
                '<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>'
            ).format(
                x,
                y,
                slot * 0.7,
                bar_h,
                name,
                count,
                name,
                count,
                x + slot * 0.35,
                y - 4,
                count if count else "",
                x + slot * 0.35,
                height - 8,
                name,
            )
        )
    return _svg(height, label, "histogram", Markup("").join(marks), width)


def horizontal_bars(
    items: Sequence[tuple[str, float, str]], label: str, row: int = 24, width: int = WIDTH
) -> Markup:
    """One bar per item, longest first as given: (name, value, the value as text)."""
    name_w = width * 0.42
    height = TOP + row * max(len(items), 1) + 4
    maximum = max((value for _, value, _ in items), default=0) or 1
    span = width - name_w - 70
    marks = []
    for index, (name, value, text) in enumerate(items):
        y = TOP + index * row
        bar_w = max(span * value / maximum, 1)
        limit = int(name_w / 6.2)  # about how many 11px characters fit left of the bars
        shown = name if len(name) <= limit else name[: limit - 1] + "…"
        marks.append(
            Markup(
                '<text x="{}" y="{:.1f}" text-anchor="end">{}</text>'
                '<rect class="hbar" x="{}" y="{:.1f}" width="{:.1f}" height="{}" data-name="{}" '
                'data-value="{}">'
                "<title>{}: {}</title></rect>"
                '<text x="{:.1f}" y="{:.1f}">{}</text>'
            ).format(
                name_w - 8,
                y + row * 0.62,
                shown,
                name_w,
                y + 3,
                bar_w,
                row - 8,
                name,
                f"{value:g}",
                name,
                text,
                name_w + bar_w + 6,
                y + row * 0.62,
                text,
            )
        )
    return _svg(height, label, "hbars", Markup("").join(marks), width)


def legend(entries: Sequence[tuple[str, str]]) -> Markup:
    """(css colour variable suffix, label) pairs under a chart."""
    return Markup('<div class="legend">{}</div>').format(
        Markup("").join(
            Markup('<span><i style="background:var(--{})"></i>{}</span>').format(key, text)
            for key, text in entries
        )
    )
