"""Local language and local time: the catalogs are complete and current, every card and answer renders in
Spanish with no English left over and still passes the Block Kit and Adaptive Card checks, e-mail and SMS use
the channel's zone, and a channel's language is validated against the shipped catalogs."""

from __future__ import annotations

import gettext
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from pydantic import ValidationError

from stockbot.adapters.i18n import LOCALE_DIR, language_of, languages, plural_phrase, said
from stockbot.adapters.message import (
    AlertMessage,
    LocationStock,
    OpenAlert,
    ProductStock,
    localized,
    resolved_sample,
    sample_message,
)
from stockbot.adapters.notes import note_text
from stockbot.adapters.render import slack, slack_answers, slack_home, teams, teams_answers, teams_inbox, text
from stockbot.adapters.report_card import (
    ACKNOWLEDGE_P50,
    DURATION,
    OUT_NOW,
    STOCKOUTS,
    TIME_OUT,
    Figure,
    Offender,
    ReportCard,
)
from stockbot.bot.config import ChannelConfig
from stockbot.bot.noise import digest_message
from stockbot.bot.permissions import Actor, PermissionDenied
from stockbot.bot.report_requests import report_message, send_due_reports
from tests import test_slack_app as slack_app
from tests import test_teams_app as teams_app
from tests.conftest import HarnessFactory
from tests.fakes import slack_api
from tests.fakes.bot_connector import FakeBotConnector, card_errors
from tests.fakes.slack_api import FakeSlack, block_kit_problems, view_problems
from tests.helpers import StockbotHarness
from tests.helpers import event as stock_event

fake_slack, connector = slack_api.fake_slack, teams_app.connector  # the fixtures
ROOT = Path(__file__).resolve().parents[1]
PO = LOCALE_DIR / "es" / "LC_MESSAGES" / "stockbot.po"
MO = PO.with_suffix(".mo")
_FIELD = re.compile(r"\{[a-z_]*\}")


def _catalog(path: Path) -> Any:
    with path.open("rb") as file:
        return read_po(file)


def _ids(message: Any) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _strings(message: Any) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


# --- the catalogs ------------------------------------------------------------------------------------------


def test_spanish_is_shipped_and_locales_map_to_it() -> None:
    assert languages() == ("en", "es")
    assert [language_of(code) for code in ("es-MX", "es_ES", "es-LA", "ES", "fr-FR", "", None)] == [
        "es",
        "es",
        "es",
        "es",
        "en",
        "en",
        "en",
    ]


# The folders and keywords of the README's extraction: renderers mark with _, ngettext, N_ and tr; the core
# and the front ends word what a person reads as phrase()/plural_phrase() (adapters/i18n.py).
EXTRACTED = ("adapters", "bot", "handlers")
KEYWORDS = {"_": None, "N_": None, "tr": (2,), "ngettext": (1, 2), "phrase": None, "plural_phrase": (1, 2)}


def test_the_template_holds_every_string_the_renderers_mark() -> None:
    """Renderers changed without re-extracting would ship English: re-run the extraction (README)."""
    found = {
        message
        for folder in EXTRACTED
        for _, _, message, _, _ in extract_from_dir(str(ROOT / folder), keywords=KEYWORDS)
    }
    marked = {m if isinstance(m, str) else m[0] for m in found if m}
    template = {_ids(m)[0] for m in _catalog(LOCALE_DIR / "stockbot.pot") if m.id}
    assert marked == template


def test_spanish_translates_every_msgid_keeping_its_placeholders() -> None:
    template = {_ids(m)[0] for m in _catalog(LOCALE_DIR / "stockbot.pot") if m.id}
    spanish = _catalog(PO)
    assert not spanish.fuzzy
    assert {_ids(m)[0] for m in spanish if m.id} == template
    for message in spanish:
        if not message.id:
            continue
        assert "fuzzy" not in message.flags, message.id
        for string in _strings(message):
            assert string.strip(), f"no Spanish for {message.id!r}"
            # A renamed or lost {field} would raise KeyError (or drop a fact) at format time.
            assert sorted(_FIELD.findall(string)) == sorted(_FIELD.findall(_ids(message)[0])), message.id


def test_the_committed_mo_is_the_compiled_po() -> None:
    """The .mo ships in the wheel: it must say what the reviewed .po says (pybabel compile after edits)."""
    with MO.open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    for message in _catalog(PO):
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            assert compiled.ngettext(*message.id, 1) == message.string[0]
            assert compiled.ngettext(*message.id, 5) == message.string[1]
        else:
            assert compiled.gettext(message.id) == message.string, message.id


# --- everything a person reads, in Spanish ------------------------------------------------------------------

OPENED = sample_message().opened_at
LATER = OPENED + timedelta(minutes=20)


def _states() -> dict[str, AlertMessage]:
    base = sample_message(reason="pedido SO-1001", mentions=("U0REP00001", "S0MANAGERS"))
    feed = sample_message(
        sku="feed:erp",
        category="feed",
        location="feed",
        product_name="erp feed",
        trigger="feed_silent",
        blocked_orders=(),
        last_changed_at=OPENED - timedelta(hours=2),
    )
    return {
        "opened": base,
        "acknowledged": replace(
            base,
            event="acknowledged",
            state="acknowledged",
            acknowledged_by="dana",
            acknowledged_at=LATER,
            actor="dana",
        ),
        "escalated": replace(
            base,
            event="escalated",
            state="escalated",
            escalated_by="lee",
            escalated_at=LATER,
            escalation_level=2,
            actor="lee",
        ),
        "snoozed": replace(base, event="snoozed", snoozed_until=LATER, actor="dana"),
        "updated": replace(base, event="updated", on_hand=1),
        "worsened": replace(base, event="worsened", severity="critical", previous_severity="out"),
        "reopened": replace(base, event="reopened"),
        "recovering": replace(base, event="updated", severity="out", on_hand=3, minimum=2, resolves_above=4),
        "flagged": replace(
            base, event="opened", trigger="manual", flagged_by="sam", on_hand=5, severity="out"
        ),
        "reported": replace(base, trigger="source_out_of_stock", on_hand=4, severity="out"),
        "unknown level": replace(base, on_hand=None),
        "with cover": replace(base, rate_of_sale=1.5, days_of_cover=2.0, suggested_reorder=6),
        "no recent sales": replace(base, rate_of_sale=0.0, days_of_cover=None, suggested_reorder=2),
        "resolved": resolved_sample(),
        "resolved by hand": replace(resolved_sample(), resolved_by="lee", resolved_note="marcado por error"),
        "feed silent": feed,
        "feed back": replace(feed, event="resolved", state="resolved", resolved_at=LATER, updated_at=LATER),
    }


def _digest() -> AlertMessage:
    states = _states()
    items = [
        states["opened"],
        replace(states["recovering"], alert_id=43, sku="CAB-PACMAN-UP"),
        states["resolved"],
    ]
    return digest_message([replace(m, alert_id=40 + i) for i, m in enumerate(items)], LATER)


def _english_phrases() -> set[str]:
    """The fixed English pieces of every msgid (split at its fields), long enough to be unmistakable, that its
    Spanish does not itself contain."""
    phrases = set()
    for message in _catalog(PO):
        if not message.id:
            continue
        for english, spanish in zip(_ids(message), _strings(message), strict=False):
            for piece in _FIELD.split(english):
                piece = piece.strip(" *`_:;,.()/—-\n")
                if len(piece) >= 9 and " " in piece and piece not in spanish:
                    phrases.add(piece)
    return phrases


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in ("action_id", "block_id", "value", "verb", "type", "style", "url", "$schema"):
                yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def _assert_spanish(rendered: Any, what: str) -> None:
    words = "\n".join(_texts(rendered))
    leftovers = sorted(phrase for phrase in _english_phrases() if phrase in words)
    assert not leftovers, f"{what}: English left in Spanish: {leftovers}\n{words}"


def _spanish(message: AlertMessage) -> AlertMessage:
    return localized(message, "es", "America/Mexico_City")


@pytest.mark.parametrize("state", [*list(_states()), "digest"])
def test_every_alert_renders_in_spanish_and_passes_the_platform_checks(state: str) -> None:
    message = _spanish(_digest() if state == "digest" else _states()[state])
    blocks = slack.alert_blocks(message)
    assert block_kit_problems(blocks) == []
    card = teams.alert_card(message)
    assert card_errors(card) == []
    notice = teams.notice_card(message, "Ya confirmada por dana")
    assert card_errors(notice) == []
    for what, rendered in {
        "slack blocks": blocks,
        "slack text": slack.alert_text(message),
        "slack thread": slack.thread_text(message),
        "teams card": card,
        "sms": text.sms(message),
        "e-mail subject": text.email_subject(message),
        "e-mail": text.email_html(message),
        "plain text": text.plain_text(message),
        "ticket": text.ticket(message).description,
        "resolution note": text.resolution_note(message),
    }.items():
        _assert_spanish(rendered, f"{state}, {what}")


def test_spanish_cards_say_it_in_spanish() -> None:
    opened = _spanish(_states()["opened"])
    assert text.headline(opened) == "Falta CRÍTICA: Godzilla Pro pinball table (PIN-GODZ-PRO) en Chicago DC"
    blocks = slack.alert_blocks(opened)
    labels = {e["text"]["text"] for e in blocks[-1]["elements"] if e["type"] == "button"}
    assert labels == {"Confirmar", "Escalar", "Resolver"}
    assert {"type": "mrkdwn", "text": "*Nivel*\n0 en existencia / mínimo 2 (crítico en 0)"} in blocks[1][
        "fields"
    ]
    card = teams.alert_card(opened)
    assert [a["title"] for a in card["actions"]] == [
        "Confirmar",
        "Escalar",
        "Posponer",
        "Resolver",
        "Abrir en stockbot",
    ]
    assert "Desde: 2026-11-26 03:30 CST" in text.plain_text(opened)
    assert text.sms(opened).startswith("CRITICO PIN-GODZ-PRO @ Chicago DC: 0 en existencia / minimo 2")
    assert text.sms(opened).isascii()  # GSM-safe: accents dropped, never "?"
    assert "Resumen de existencias: 3 alertas de existencias" in text.plain_text(_spanish(_digest()))
    assert text.duration_text(OPENED, OPENED + timedelta(days=3), "es") == "3 días"
    covered = text.plain_text(_spanish(_states()["with cover"]))
    assert "Cobertura: 2.0 días a 1.5 al día; pedido sugerido: 6" in covered


# --- answers to one person ---------------------------------------------------------------------------------


def _product() -> ProductStock:
    alert = OpenAlert(
        id=7,
        state="escalated",
        severity="out",
        opened_at=OPENED,
        acknowledged_by="dana",
        acknowledged_at=LATER,
        escalated_by="lee",
        escalated_at=LATER,
        escalation_step=1,
        escalation_note=None,
        snoozed_until=LATER,
        reason=None,
        blocked_quantity=3,
        trigger="manual",
        flagged_by="sam",
    )
    where = [
        LocationStock("Chicago DC", 2, 1, 0, None, OPENED, "erp", alert, resolves_above=3),
        LocationStock("Reno DC", None, 1, None, None, None, None, None),
        LocationStock("Austin DC", 4, 1, None, None, None, None, None),
        LocationStock("Denver DC", 0, 1, 0, "critical", OPENED, "pos", None),
    ]
    return ProductStock("CAB-MK-LEGACY", "Mortal Kombat Legacy Kit cabinet", "cabinet", True, tuple(where))


def test_every_slack_answer_renders_in_spanish_within_block_kit_limits() -> None:
    product, flagged = _product(), _spanish(_states()["flagged"])
    answers = {
        "stock help": slack_answers.stock_help("es"),
        "nothing found": slack_answers.nothing_found("zzz", "es"),
        "stock": slack_answers.stock_answer([product], more=True, escalations={}, language="es"),
        "stock, several": slack_answers.stock_answer([product, product], language="es"),
        "oos help": slack_answers.oos_help("es"),
        "flagged": slack_answers.flagged(flagged),
        "cleared": slack_answers.cleared(flagged),
        "cleared, resolved": slack_answers.cleared(_spanish(_states()["resolved by hand"])),
        "refused": slack_answers.refused("flag stock", "sin permiso", "es"),
        "failed": slack_answers.failed("es"),
        "unknown": slack_answers.unknown_command("/foo", "es"),
        "acknowledged many": slack_answers.acknowledged_many(3, 1, "es"),
    }
    for event in ("acknowledged", "escalated", "resolved", "snoozed"):
        answers[f"acted {event}"] = slack_answers.acted(_spanish(_states()[event]), ["#ventas"])
    for what, answer in answers.items():
        assert block_kit_problems(answer.blocks) == [], what
        _assert_spanish([answer.text, answer.blocks], what)
    assert "No se pudo marcar como agotado: sin permiso" in answers["refused"].text
    everywhere = ProductStock(
        "X-1", "Pieza", "", False, (LocationStock("Reno DC", 9, 1, None, None, None, None, None),)
    )
    assert text.stock_summary(everywhere, "es") == "Pieza (X-1): con existencias en todas las ubicaciones"
    stock = str(answers["stock"].blocks)
    assert "Alerta n.º 7 abierta desde <!date^" in stock
    assert "En existencia" in stock and "Desconocido" in stock


def test_every_teams_answer_renders_in_spanish_and_validates() -> None:
    product, flagged = _product(), _spanish(_states()["flagged"])
    card = teams_answers.stock_card([product], more=True, language="es")
    assert card_errors(card) == []
    assert "{{DATE(2026-11-26T09:30:00Z, SHORT)}}" in str(card)
    answers = {
        "stock": card,
        "help": teams_answers.help_text("es"),
        "short help": teams_answers.short_help("foo", "es"),
        "where": teams_answers.where_text("19:abc@thread.tacv2", "Ventas", "channel", "es"),
        "welcome": teams_answers.welcome_text("19:abc@thread.tacv2", "Ventas", "channel", "es"),
        "flagged": teams_answers.flagged_text(flagged, "opened"),
        "escalated": teams_answers.flagged_text(flagged, "escalated"),
        "cleared": teams_answers.cleared_text(flagged),
        "nothing found": teams_answers.nothing_found_text("zzz", "es"),
        "refused": teams_answers.refused_text("clear the flag", "sin permiso", "es"),
    }
    for what, answer in answers.items():
        _assert_spanish(answer, what)
    assert answers["refused"] == "No se pudo retirar la marca: sin permiso"


# --- a person's own alerts: the Slack App Home and the Teams `alerts` list -------------------------------

EVERY_ACTION = ("acknowledge", "snooze", "escalate", "resolve")


def _own_alerts() -> list[AlertMessage]:
    """Open alerts as the core hands them over, in English: the renderers put them in the reader's."""
    states = _states()
    unknown = replace(states["opened"], on_hand=None)
    alerts = [states["opened"], states["acknowledged"], states["escalated"], states["snoozed"], unknown]
    return [replace(message, alert_id=42 + i) for i, message in enumerate(alerts)]


def test_the_slack_home_view_renders_in_spanish_within_view_limits() -> None:
    alerts, everything = _own_alerts(), frozenset(EVERY_ACTION)
    views = {
        "full": slack_home.home_view(
            [*alerts, replace(_states()["feed silent"], alert_id=60)],
            may=everything,
            locations=["Chicago DC", "Reno DC"],
            more=True,
            notice="Ha confirmado la alerta n.º 42.",
            timezone="America/Mexico_City",
            language="es",
        ),
        "one, at a location": slack_home.home_view(
            alerts[:1], may=everything, locations=["Chicago DC"], location="Chicago DC", language="es"
        ),
        "none at a location": slack_home.home_view([], may=everything, location="Chicago DC", language="es"),
        "none": slack_home.home_view([], may=everything, language="es"),
        "no role": slack_home.home_view([], may=frozenset({"stock"}), language="es"),
    }
    for what, view in views.items():
        assert view_problems(view) == [], what
        _assert_spanish(view, f"home, {what}")
    full = json.dumps(views["full"], ensure_ascii=False)
    for spanish in (
        "Sus alertas de existencias",
        "*Ubicación*",
        "Todas las ubicaciones",
        "6+ alertas de existencias abiertas, primero las más urgentes.",
        "*Godzilla Pro pinball table* `PIN-GODZ-PRO` en *Chicago DC*",
        "0 en existencia / mínimo 2 · Abierta",
        "· Confirmada",
        "· Escalada",
        "· Abierta, pospuesta",
        "nivel desconocido / mínimo 2",
        "· abierta <!date^",
        "· n.º 42",
        "Se muestran las más urgentes",
    ):
        assert spanish in full, spanish
    actions = [e for b in views["full"]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    buttons = {e["text"]["text"] for e in actions if e["type"] == "button"}
    assert {"Confirmar", "Escalar", "Resolver"} <= buttons
    one = json.dumps(views["one, at a location"], ensure_ascii=False)
    assert "1 alerta de existencias abierta en Chicago DC, primero las más urgentes." in one
    assert "No hay alertas de existencias abiertas en Chicago DC." in json.dumps(
        views["none at a location"], ensure_ascii=False
    )
    assert "No tiene ningún rol en stockbot" in json.dumps(views["no role"], ensure_ascii=False)
    english = json.dumps(slack_home.home_view(alerts, may=everything))  # English stays the default
    assert "Your stock alerts" in english and "5 open stock alerts, most urgent first." in english


def test_the_teams_alerts_list_renders_in_spanish_and_validates() -> None:
    alerts = _own_alerts()
    done = teams_inbox.done_text(alerts[0], "acknowledged", "es")
    cards = {
        "list": teams_inbox.alerts_card(
            alerts, may=EVERY_ACTION, now=LATER, more=True, notice=done, reader="29:abc", language="es"
        ),
        "refused, at a location": teams_inbox.alerts_card(
            alerts[:1],
            may=("acknowledge",),
            now=LATER,
            location="Chicago DC",
            more=True,
            notice=teams_inbox.not_done_text("sin permiso", "es"),
            refused=True,
            language="es",
        ),
        "none at a location": teams_inbox.alerts_card(
            [], may=EVERY_ACTION, now=LATER, location="Chicago DC", language="es"
        ),
        "no role": teams_inbox.alerts_card([], may=(), now=LATER, language="es"),
    }
    for what, card in cards.items():
        assert card_errors(card) == [], what
        _assert_spanish(card, f"teams alerts, {what}")
    answers = {
        "not here": teams_inbox.not_here_text("es"),
        "unknown location": teams_inbox.unknown_location_text("Reno", "es"),
        **{
            event: teams_inbox.done_text(alerts[0], event, "es")
            for event in ("escalated", "snoozed", "resolved")
        },
    }
    for what, answer in answers.items():
        _assert_spanish(answer, f"teams alerts, {what}")
    body = cards["list"]["body"]
    assert body[0]["text"] == "Alerta n.º 42 confirmada: Godzilla Pro pinball table en Chicago DC."
    assert body[1]["text"] == "Sus alertas abiertas: 5+"
    assert body[2]["text"].startswith(
        "Puede confirmar, posponer, escalar o resolver estas alertas. "
        "Primero las más urgentes; datos del {{DATE("
    )
    listed = str(body)
    assert "0 en existencia / mínimo 2 · abierta desde hace 20 min · Abierta, sin confirmar" in listed
    assert "Falta CRÍTICA: Godzilla Pro pinball table (PIN-GODZ-PRO) en Chicago DC" in listed
    assert "Acote la lista con una ubicación: `alerts Chicago DC`." in listed
    assert cards["list"]["actions"][0]["title"] == "Actualizar"
    refused = cards["refused, at a location"]["body"]
    assert refused[0]["text"] == "No se pudo hacer: sin permiso"
    assert refused[1]["text"] == "Sus alertas abiertas en Chicago DC: 1+"
    assert refused[2]["text"].startswith("Puede confirmar estas alertas.")
    assert "No hay alertas abiertas en Chicago DC que usted pueda gestionar." in str(
        cards["none at a location"]
    )
    assert "No tiene ningún rol en [roles] de stockbot" in str(cards["no role"])
    assert answers["unknown location"].startswith("Ninguna ubicación `Reno` tiene productos")
    assert teams_inbox.done_text(alerts[0], "snoozed") == (
        "Snoozed alert #42: Godzilla Pro pinball table at Chicago DC."
    )


# --- time zones and configuration ---------------------------------------------------------------------


def test_email_and_sms_use_the_channel_time_zone_and_chat_cards_the_readers() -> None:
    snoozed = replace(_states()["snoozed"], event="opened", state="open")
    chicago = localized(snoozed, "en", "America/Chicago")
    assert "Since: 2026-11-26 03:30 CST" in text.plain_text(chicago)
    assert "Snoozed until 2026-11-26 03:50 CST" in text.email_html(chicago)
    stamp = int(datetime(2026, 11, 26, 9, 50, tzinfo=UTC).timestamp())
    assert f"<!date^{stamp}^" in slack.card_status(chicago)  # Slack: the reader's own zone
    card = str(teams.alert_card(chicago))
    assert "{{DATE(2026-11-26T09:50:00Z, SHORT)}} {{TIME(2026-11-26T09:50:00Z)}}" in card  # Teams: likewise
    assert "UTC" not in card and "CST" not in card


def test_a_channel_language_must_be_a_shipped_catalog() -> None:
    assert ChannelConfig(adapter="console", address="-", language="es").language == "es"
    assert ChannelConfig(adapter="console", address="-").language == "en"
    with pytest.raises(ValidationError, match=r"stockbot has no 'fr' catalog; write one of \"en\", \"es\""):
        ChannelConfig(adapter="console", address="-", language="fr")


# --- the core's reasons and notes, worded per reader -----------------------------------------------------


def test_the_cores_reasons_are_english_records_and_spanish_for_a_spanish_reader() -> None:
    denied = PermissionDenied("snooze", Actor(id="U1", via="slack"), frozenset({"rep", "manager"}))
    english = "only manager or rep roles may snooze; ask an admin to add you to [roles] in stockbot.toml"
    assert str(denied) == english  # the audit row's words
    assert said(denied, "es") == (
        "solo los roles manager o rep pueden posponer; pida a un administrador que lo añada a [roles] en "
        "stockbot.toml"
    )
    assert said(denied, "fr") == english  # no French catalog
    assert said("a person's own words", "es") == "a person's own words"
    assert plural_phrase("{count} stock alert", "{count} stock alerts", 1).worded("es") == (
        "1 alerta de existencias"
    )


@pytest.mark.parametrize(
    ("note", "spanish"),
    [
        ("step 2: managers, escalated by hand", "paso 2: managers, escalada a mano"),
        ("step 3: director, critical, escalated at once", "paso 3: director, crítica, escalada de inmediato"),
        ("reminder: unacknowledged for 3 days", "recordatorio: sin confirmar desde hace 3 días"),
        (
            "business impact: 2 blocked order(s), 5 unit(s)",
            "impacto en el negocio: pedidos bloqueados: 2; unidades: 5",
        ),
        ("resolved from the Slack card", "resuelta desde la tarjeta de Slack"),
        ("flag cleared: found it on the shelf", "marca retirada: found it on the shelf"),
        (
            "no events from erp for 2 h (expected every 10 min)",
            "ningún evento de erp desde hace 2 h (se esperan cada 10 min)",
        ),
        ("erp is no longer watched (no expect_every in [sources.erp])", None),
        ("marcado por error", "marcado por error"),  # a person's words: as typed
    ],
)
def test_notes_the_core_wrote_in_english_read_in_the_readers_language(note: str, spanish: str | None) -> None:
    assert note_text(note, "en") == note
    worded = note_text(note, "es")
    assert worded == (spanish or "erp ya no se vigila (no hay expect_every en [sources.erp])")


def test_an_escalated_cards_note_reads_in_the_channels_language() -> None:
    escalated = replace(
        _states()["escalated"], escalation_note="step 2: managers, critical, escalated at once"
    )
    message = _spanish(escalated)
    blocks = json.dumps(slack.alert_blocks(message), ensure_ascii=False)
    assert "paso 2: managers, crítica, escalada de inmediato" in blocks
    card = json.dumps(teams.alert_card(message), ensure_ascii=False)
    assert "paso 2: managers, crítica, escalada de inmediato" in card
    assert "escalated at once" in json.dumps(slack.alert_blocks(escalated))  # English stays English


def test_a_report_reads_in_spanish_at_every_destination() -> None:
    """What a scheduled report becomes for a Spanish channel of each kind: Slack, Teams, e-mail, SMS, text."""
    card = ReportCard(
        days=7,
        scope=("Chicago DC",),
        start=date(2026, 11, 20),
        end=date(2026, 11, 26),
        previous_start=date(2026, 11, 13),
        previous_end=date(2026, 11, 19),
        figures=(
            Figure(STOCKOUTS, 12, 9, "up", "down"),
            Figure(TIME_OUT, 3 * 86400, 4000, "up", "down", DURATION),
            Figure(ACKNOWLEDGE_P50, 240, 240, "same", "down", DURATION),
            Figure(OUT_NOW, 3, None, "", "down"),
        ),
        offenders=(Offender("Pac-Man upright", "CAB-PACMAN-UP", "Chicago DC", 1, 7200),),
        generated_at=OPENED,
        link="https://stock.example.com/reports?period=7d",
    )
    message = _spanish(report_message(card, OPENED))
    blocks, adaptive = slack.alert_blocks(message), teams.alert_card(message)
    assert block_kit_problems(blocks) == [] and card_errors(adaptive) == []
    rendered = {
        "slack": [slack.alert_text(message), blocks],
        "teams": adaptive,
        "e-mail": [text.email_subject(message), text.email_html(message)],
        "sms": text.sms(message),
        "text": text.plain_text(message),
    }
    for what, words in rendered.items():
        _assert_spanish(words, f"report, {what}")
    plain = text.plain_text(message)
    assert plain.startswith(
        "Informe de existencias: últimos 7 días · Chicago DC\n"
        "del 2026-11-20 al 2026-11-26, frente al periodo del 2026-11-13 al 2026-11-19"
    )
    assert "Faltas de existencias: 12 (▲ desde 9)" in plain
    assert "Tiempo sin existencias: 3.0 días (▲ desde 1 h 6 min)" in plain
    assert "Mediana del tiempo hasta confirmar: 4 min (sin cambios)" in plain
    assert "1. Pac-Man upright (CAB-PACMAN-UP) en Chicago DC: 1 falta, 2 h sin existencias" in plain
    sms = text.sms(message)  # GSM-safe: no accents, no arrows, nothing turned into "?"
    assert sms.startswith("stockbot ultimos 7 dias, Chicago DC; faltas de existencias 12+;")
    assert "?" not in sms
    assert "<html lang='es'>" in text.email_html(message)
    assert text.plain_text(report_message(card, OPENED)).startswith("Stock report: last 7 days · Chicago DC")


# --- over HTTP, through the real app and the local fakes ---------------------------------------------------

ES_SLACK, ES_TEAMS = "es-ES", "es-MX"


async def _slack_spanish(stockbot: HarnessFactory, fake: FakeSlack, **overrides: Any) -> StockbotHarness:
    fake.usergroups[slack_app.MANAGER_GROUP] = [slack_app.BOSS]
    for user, name in ((slack_app.REP, "Rita Rep"), (slack_app.WAREHOUSE, "Wes"), (slack_app.BOSS, "Bo")):
        fake.add_user(user, name, locale=ES_SLACK)
    return await stockbot(**{**slack_app.slack_overrides(fake), **overrides})


def _slack_answer(answer: dict[str, Any]) -> str:
    """An ephemeral answer's text, once its text and blocks are shown to hold no English of the catalog."""
    _assert_spanish(answer, "slack answer")
    return str(answer["text"])


async def test_slack_refusals_and_unknown_commands_are_in_the_users_language(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await _slack_spanish(stockbot, fake_slack)
    rep, warehouse = slack_app.REP, slack_app.WAREHOUSE

    async def command(name: str, text: str, user: str = rep) -> str:
        return _slack_answer(await slack_app.send_command(harness, fake_slack, name, text, user))

    assert (await command("/stock", "NOPE-SKU")).startswith(":mag: Ningún producto coincide con `NOPE-SKU`.")
    assert await command("/oos", "NOPE-SKU", warehouse) == (
        ":no_entry: No se pudo marcar como agotado: no hay ningún producto con el SKU 'NOPE-SKU' en el "
        "catálogo; búsquelo con el comando stock"
    )
    assert "No se pudo marcar como agotado: solo los roles warehouse pueden marcar como agotado" in (
        await command("/oos", "NOPE-SKU")
    )
    assert (
        await command("/inventario", "") == "stockbot no responde a `/inventario`. Pruebe `/stock` o `/oos`."
    )
    help_text = await command("/stock", "help")
    assert "`/stock report [7d|30d] [ubicación o categoría]`: cifras clave" in help_text
    assert "`/stock dashboard`: su enlace personal" in help_text

    card, ts = await slack_app.open_alert(harness, fake_slack)
    escalate = slack_app.card_action(card, slack_app.ESCALATE_ACTION_ID)
    refused = _slack_answer(await slack_app.send_click(harness, fake_slack, escalate, rep, ts))
    assert "No se pudo escalar: solo los roles manager pueden escalar; pida a un administrador" in refused
    await harness.send(stock_event(slack_app.SKU, 6, at=harness.later(hours=1)))
    acknowledge = slack_app.card_action(card, slack_app.ACK_ACTION_ID)
    late = _slack_answer(await slack_app.send_click(harness, fake_slack, acknowledge, rep, ts))
    assert late == (
        ":no_entry: No se pudo confirmar: la alerta n.º 1 ya está resuelta (hay existencias de nuevo); "
        "no hay nada que confirmar"
    )
    unreadable = {**acknowledge, "value": "not-an-id"}
    nothing = _slack_answer(await slack_app.send_click(harness, fake_slack, unreadable, rep, ts))
    assert "este botón no indica ninguna alerta ('not-an-id')" in nothing
    # The audit log is a record: it keeps the English, whoever read the refusal in Spanish.
    reasons = [row["detail"]["reason"] for row in await slack_app.audit(harness, "action.refused")]
    assert reasons == [
        "no product with SKU 'NOPE-SKU' in the catalog; look it up with the stock command",
        "only warehouse roles may flag; ask an admin to add you to [roles] in stockbot.toml",
        "only manager roles may escalate; ask an admin to add you to [roles] in stockbot.toml",
        "alert #1 is already resolved (back in stock); nothing to acknowledge",
        "this button names no alert ('not-an-id'); use the buttons on a stockbot card",
    ]
    assert fake_slack.errors == []


async def test_slack_acknowledge_all_uses_plural_forms_in_the_users_language(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await _slack_spanish(stockbot, fake_slack, routes=[{"channels": ["sales"], "digest": "15m"}])
    for sku in ("CAB-DK-JR", "CAB-CENTIPEDE"):
        await harness.send(stock_event(sku, 1, event_id=f"digest-{sku}"))
    harness.later(minutes=15)
    await slack_app.deliver(harness)
    (card,) = fake_slack.posts(slack_app.SALES)
    button = slack_app.card_action(card, "stockbot_ack_all")
    fake_slack.add_user(slack_app.STRANGER, "Sam", locale=ES_SLACK)
    stranger = await slack_app.send_click(harness, fake_slack, button, slack_app.STRANGER, card["ts"])
    assert _slack_answer(stranger).startswith(
        ":no_entry: No se pudo confirmar: solo los roles manager o rep pueden confirmar;"
    )
    answer = await slack_app.send_click(harness, fake_slack, button, slack_app.REP, card["ts"])
    assert _slack_answer(answer).startswith(":eyes: Ha confirmado 2 alertas.")
    again = await slack_app.send_click(harness, fake_slack, button, slack_app.REP, card["ts"])
    assert _slack_answer(again).startswith(":eyes: Ha confirmado 0 alertas (2 ya atendidas).")


def _teams(body: dict[str, Any], locale: str = ES_TEAMS) -> dict[str, Any]:
    return {**body, "locale": locale}


async def test_teams_not_done_is_in_the_clickers_language_on_the_channels_card(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(
        teams={},
        channels={"sales_teams": {"adapter": "teams", "address": teams_app.CHANNEL}},
        routes=[{"channels": ["sales_teams"]}],
        roles=teams_app.ROLES,
    )
    await teams_app.send(harness, teams_app.install(connector))
    await harness.send(stock_event("CAB-MK-LEGACY", 0))
    await harness.deliver()
    (card_id,) = [
        a for a in connector.activity_ids(teams_app.CHANNEL) if "attachments" in connector.activity(a)
    ]
    alert_id = connector.card(card_id)["actions"][0]["data"]["alert_id"]

    def click(verb: str, who: str, alert: Any = alert_id) -> dict[str, Any]:
        return _teams(teams_app.click(connector, verb, alert, who=who, card_id=card_id))

    refused = await teams_app.clicked(harness, click("stockbot.escalate", "rep"))
    assert refused["body"][0]["text"] == (
        "No se pudo hacer: solo los roles manager pueden escalar; pida a un administrador que lo añada a "
        "[roles] en stockbot.toml"
    )
    await harness.send(stock_event("CAB-MK-LEGACY", 5, at=harness.later(minutes=20)))
    await harness.deliver()
    late = await teams_app.clicked(harness, click("stockbot.ack", "manager"))
    assert late["body"][0]["text"] == (
        "No se pudo hacer: la alerta n.º 1 ya está resuelta (hay existencias de nuevo); no hay nada que "
        "confirmar"
    )
    assert "Back in stock" in json.dumps(late)  # the card everyone sees stays in its channel's language
    nothing = await teams_app.clicked(harness, click("stockbot.ack", "manager", "nope"))
    assert nothing["body"][0]["text"] == (
        "No se pudo hacer: este botón no indica ninguna alerta; use los botones de una tarjeta de stockbot"
    )
    _assert_spanish(nothing, "teams error card")
    reasons = [row["detail"]["reason"] for row in await teams_app.audit(harness, "action.refused")]
    assert reasons[1:] == [
        "alert #1 is already resolved (back in stock); nothing to acknowledge",
        "this button names no alert; use the buttons on a stockbot card",
    ]  # English: the audit log is a record
    assert connector.errors == []


async def test_teams_acknowledge_all_is_counted_with_plural_forms_in_the_clickers_language(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(
        teams={},
        channels={"sales_teams": {"adapter": "teams", "address": teams_app.CHANNEL}},
        routes=[{"channels": ["sales_teams"], "digest": "15m"}],
        roles=teams_app.ROLES,
    )
    await teams_app.send(harness, teams_app.install(connector))
    for sku in ("CAB-DK-JR", "CAB-CENTIPEDE"):
        await harness.send(stock_event(sku, 1, event_id=f"digest-{sku}"))
    harness.later(minutes=15)
    await harness.deliver()
    (card_id,) = [
        a for a in connector.activity_ids(teams_app.CHANNEL) if "attachments" in connector.activity(a)
    ]
    (action,) = connector.card(card_id)["actions"]

    async def acknowledge_all(who: str) -> str:
        body = _teams(teams_app.click(connector, "stockbot.ack_all", None, who=who, card_id=card_id))
        body["value"]["action"]["data"] = action["data"]
        card = await teams_app.clicked(harness, body)
        _assert_spanish(card, "acknowledge all")
        return str(card["body"][0]["text"])

    assert (await acknowledge_all("stranger")).startswith(
        "No se pudo hacer: solo los roles manager o rep pueden confirmar;"
    )
    assert await acknowledge_all("rep") == "Rita Rep confirmó 2 alertas."
    assert await acknowledge_all("rep") == "Rita Rep confirmó 0 alertas (2 ya atendidas)."


# --- reports in chat and on a schedule, in Spanish ---------------------------------------------------------


async def _seed(harness: StockbotHarness) -> None:
    for _ in range(2):
        await harness.send(stock_event("CAB-MK-LEGACY", 0, at=harness.clock.now()))
        harness.later(hours=3)
        await harness.send(stock_event("CAB-MK-LEGACY", 9, at=harness.clock.now()))
        harness.later(hours=21)


async def test_a_slack_report_and_dashboard_answer_read_in_the_askers_language(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await _slack_spanish(stockbot, fake_slack, server={"public_url": "https://stock.example.com"})
    await _seed(harness)
    answer = await slack_app.send_command(
        harness, fake_slack, "/stock", "report 7d Chicago DC", slack_app.REP
    )
    _assert_spanish(answer, "slack report")
    blocks = json.dumps(answer["blocks"], ensure_ascii=False).replace("\\n", "\n")
    assert answer["blocks"][0]["text"]["text"] == "Informe de existencias: últimos 7 días · Chicago DC"
    assert "*Faltas de existencias*\n2" in blocks and "▲ desde 0" in blocks
    assert "*Productos que más se agotan*" in blocks
    assert (
        "1. *Mortal Kombat Legacy Kit cabinet* `CAB-MK-LEGACY` en Chicago DC: 2 faltas, 6 h sin existencias"
        in (blocks)
    )
    assert "Abrir el panel" in blocks
    assert block_kit_problems(answer["blocks"]) == [] and fake_slack.errors == []
    bad = await slack_app.send_command(harness, fake_slack, "/stock", "report 14d", slack_app.REP)
    assert (
        _slack_answer(bad)
        == ":no_entry: No se pudo preparar ese informe: los informes abarcan 7d o 30d, no 14d"
    )
    link = await slack_app.send_command(harness, fake_slack, "/stock", "dashboard", slack_app.REP)
    assert _slack_answer(link).startswith(
        "Su enlace personal al panel de stockbot: https://stock.example.com/"
    )
    assert "(funciona una sola vez, durante 15 minutos; no lo comparta)" in json.dumps(
        link, ensure_ascii=False
    )


async def test_a_teams_report_and_dashboard_read_in_the_activitys_language(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(
        teams={}, roles=teams_app.ROLES, server={"public_url": "https://stock.example.com"}
    )
    await _seed(harness)

    async def say(text: str, who: str = "manager", **where: Any) -> None:
        await teams_app.send(
            harness, _teams(teams_app.activity(connector, "message", who=who, text=text, **where))
        )

    await say("report 30d cabinet")
    card = teams_app.reply_card(connector)
    assert card_errors(card) == [] and connector.errors == []
    _assert_spanish(card, "teams report")
    assert card["body"][0]["text"] == "Informe de existencias: últimos 30 días · cabinet"
    listed = json.dumps(card, ensure_ascii=False)
    assert "Mediana del tiempo hasta confirmar" in listed and "Productos que más se agotan" in listed
    await say("report", who="stranger")
    assert teams_app.reply_text(connector).startswith(
        "No se pudo preparar ese informe: solo los roles manager o rep o warehouse pueden ver informes;"
    )
    await say("dashboard")
    assert teams_app.reply_text(connector).startswith("Un enlace al panel es personal, así que solo lo envío")
    await say("dashboard", conversation="a:1", scope="personal")
    card = teams_app.reply_card(connector)
    assert card_errors(card) == []
    _assert_spanish(card, "teams dashboard")
    assert card["body"][0]["text"] == "Su panel de stockbot"


async def test_a_scheduled_report_reads_in_its_channels_language(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    overrides = slack_app.slack_overrides(fake_slack)
    overrides["channels"]["sales"].update(timezone="America/Chicago", language="es")
    harness = await stockbot(
        **overrides, reports=[{"channels": ["sales"], "every": "fri 09:00", "period": "7d"}]
    )
    await _seed(harness)
    assert harness.runtime is not None
    harness.later(days=6, hours=6)  # Friday 2026-12-04 09:00 in Chicago
    assert await send_due_reports(harness.runtime.config, harness.runtime.engine, harness.clock) == 1
    await slack_app.deliver(harness)
    (posted,) = [
        m for m in fake_slack.posts(slack_app.SALES) if m["text"].startswith("Informe de existencias")
    ]
    _assert_spanish(posted["blocks"], "scheduled report")
    assert (
        posted["blocks"][0]["text"]["text"]
        == "Informe de existencias: últimos 7 días · todas las ubicaciones"
    )
    assert "del 2026-11-27 al 2026-12-03, frente al periodo del 2026-11-20 al 2026-11-26" in json.dumps(
        posted["blocks"], ensure_ascii=False
    )
    assert block_kit_problems(posted["blocks"]) == [] and fake_slack.errors == []
    (queued,) = await slack_app.audit(harness, "report.queued")
    assert queued["subject"] == "Stock report: last 7 days · all locations"  # the record stays English
