"""The frame every stockbot page shares: one self-contained HTML document, inline CSS, no scripts or fonts.

Pages must work offline and behind a firewall, and a report written by ``stockbot report --format html`` must
open from a file, so nothing is fetched: styles are inline, charts are inline SVG, fonts are the system's.

Escaping: every renderer builds markup with :class:`markupsafe.Markup` (``Markup("<td>{}</td>").format(x)``
escapes ``x`` unless it is itself Markup), so text from the catalog, chat names or a filter value can never
become markup. Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from markupsafe import Markup, escape

CSS = """
:root { --ink:#1d2330; --muted:#5b6473; --line:#dde1e8; --bg:#f6f7f9; --card:#fff; --accent:#2456c7;
  --low:#e0a100; --out:#d2452e; --critical:#8e1b6d; --ok:#2e8b57; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  color:var(--ink); background:var(--bg); }
header.top { background:#1d2330; color:#fff; padding:10px 24px; display:flex; gap:20px; align-items:center; }
header.top a { color:#fff; text-decoration:none; opacity:.85; }
header.top a.here, header.top a:hover { opacity:1; text-decoration:underline; }
header.top .brand { font-weight:700; opacity:1; margin-right:12px; }
header.top .who { margin-left:auto; opacity:.8; }
header.top form { margin:0; }
header.top button { background:none; border:1px solid #fff6; color:#fff; border-radius:4px; padding:3px 8px;
  cursor:pointer; }
main { max-width:1180px; margin:0 auto; padding:20px 24px 48px; }
h1 { font-size:22px; margin:4px 0 4px; } h2 { font-size:16px; margin:0 0 10px; }
.sub { color:var(--muted); margin:0 0 16px; }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(420px,1fr)); gap:16px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:16px; }
.wide { grid-column:1/-1; }
.figures { display:flex; flex-wrap:wrap; gap:12px; margin:0 0 16px; }
.figure { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px;
  min-width:170px; }
.figure .value { font-size:24px; font-weight:700; }
.figure .label { color:var(--muted); }
.delta.up { color:var(--out); } .delta.down { color:var(--ok); } .delta.same { color:var(--muted); }
.delta.good.up { color:var(--ok); } .delta.good.down { color:var(--out); }
table { border-collapse:collapse; width:100%; background:var(--card); }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-weight:600; color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
form.filters { display:flex; flex-wrap:wrap; gap:10px; align-items:end; margin:0 0 16px; }
form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
select, input, button { font:inherit; }
select, input[type=text] { padding:5px 6px; border:1px solid var(--line); border-radius:4px;
  background:#fff; }
button.primary { background:var(--accent); color:#fff; border:0; border-radius:4px; padding:6px 14px;
  cursor:pointer; }
button.danger { background:var(--out); color:#fff; border:0; border-radius:4px; padding:6px 14px;
  cursor:pointer; }
.sev { display:inline-block; padding:1px 8px; border-radius:10px; color:#fff; font-size:12px; }
.sev-low { background:var(--low); } .sev-out { background:var(--out); }
.sev-critical { background:var(--critical); }
.sev-resolved { background:var(--ok); }
.notice { padding:10px 14px; border-radius:6px; margin:0 0 16px; }
.notice.ok { background:#e6f4ea; border:1px solid #b7dfc3; }
.notice.bad { background:#fdecea; border:1px solid #f5c2bc; }
.pager { display:flex; gap:12px; align-items:center; margin-top:12px; }
.timeline { list-style:none; margin:0; padding:0; }
.timeline li { display:grid; grid-template-columns:150px 160px 1fr; gap:10px; padding:7px 0;
  border-bottom:1px solid var(--line); }
.timeline .when { color:var(--muted); font-variant-numeric:tabular-nums; }
.timeline .kind { font-weight:600; }
.timeline .detail { color:var(--muted); font-size:12px; }
.actions { display:flex; gap:10px; flex-wrap:wrap; margin:12px 0 0; }
.actions form { display:flex; gap:8px; align-items:center; margin:0; }
svg text { font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif; fill:var(--muted); }
svg .bar-low { fill:var(--low); } svg .bar-out { fill:var(--out); }
svg .bar-critical { fill:var(--critical); }
svg .bucket, svg .hbar { fill:var(--accent); }
.legend { display:flex; gap:14px; color:var(--muted); font-size:12px; margin-top:6px; }
.legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; }
.empty { color:var(--muted); font-style:italic; }
footer { color:var(--muted); font-size:12px; margin-top:24px; }
"""


@dataclass(frozen=True)
class Nav:
    """The bar at the top of a served page: where you are, who you are, and the log-out form."""

    here: str  # reports | alerts
    who: str
    csrf: str


NAV_LINKS = (("reports", "/reports", "Reports"), ("alerts", "/alerts", "Alerts"))


def _nav(nav: Nav | None) -> Markup:
    if nav is None:
        return Markup('<header class="top"><span class="brand">stockbot</span></header>')
    links = Markup("").join(
        Markup('<a href="{}"{}>{}</a>').format(
            href, Markup(' class="here"') if key == nav.here else "", label
        )
        for key, href, label in NAV_LINKS
    )
    logout = Markup(
        '<form method="post" action="/logout"><input type="hidden" name="csrf" value="{}">'
        '<button type="submit">Log out</button></form>'
    ).format(nav.csrf)
    return Markup(
        '<header class="top"><span class="brand">stockbot</span>{}<span class="who">{}</span>{}</header>'
    ).format(links, nav.who, logout)


def page(title: str, body: Markup, nav: Nav | None = None) -> str:
    """A whole HTML document. ``body`` must be Markup (built with this module's helpers)."""
    return str(
        Markup(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="same-origin">'
            "<title>{}</title><style>{}</style></head><body>{}<main>{}</main></body></html>"
        ).format(title, Markup(CSS), _nav(nav), body)
    )


def when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def severity_badge(severity: str, resolved: bool = False) -> Markup:
    if resolved:
        return Markup('<span class="sev sev-resolved">resolved</span>')
    return Markup('<span class="sev sev-{}">{}</span>').format(severity, severity)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> Markup:
    """A table; cells that are Markup stay markup, everything else is escaped. ``numeric``: right-aligned."""
    head = Markup("").join(
        Markup('<th class="num">{}</th>' if i in numeric else "<th>{}</th>").format(h)
        for i, h in enumerate(headers)
    )
    body = Markup("").join(
        Markup("<tr>{}</tr>").format(
            Markup("").join(
                Markup('<td class="num">{}</td>' if i in numeric else "<td>{}</td>").format(cell)
                for i, cell in enumerate(row)
            )
        )
        for row in rows
    )
    return Markup("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>").format(head, body)


def select_field(name: str, label: str, choices: Sequence[tuple[str, str]], chosen: str | None) -> Markup:
    """A labelled ``<select>``; ``choices`` are (value, text), the empty value meaning "any"."""
    options = Markup("").join(
        Markup('<option value="{}"{}>{}</option>').format(
            value, Markup(" selected") if value == (chosen or "") else "", text
        )
        for value, text in choices
    )
    return Markup('<label>{}<select name="{}">{}</select></label>').format(label, name, options)


def query_link(path: str, params: dict[str, object]) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


__all__ = [
    "CSS",
    "Markup",
    "Nav",
    "escape",
    "page",
    "query_link",
    "select_field",
    "severity_badge",
    "table",
    "when",
]
