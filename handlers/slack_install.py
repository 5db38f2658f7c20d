"""Slack distribution: "Add to Slack" (OAuth v2) and uninstalling, through Bolt's own OAuth flow.

With ``[slack] client_id`` and ``client_secret`` (instead of ``bot_token``), stockbot is installed into each
workspace by a person opening ``/slack/install``:

1. ``GET /slack/install`` answers 302 to Slack's authorize URL with the bot scopes below, the redirect URL
   and a one-time ``state`` (kept in the database, ``storage/slack_installations.SlackOAuthStates``, and in
   a cookie that ties it to this browser);
2. Slack sends the installer back to ``GET /slack/oauth_redirect?code=…&state=…``; Bolt checks the state,
   exchanges the code with ``oauth.v2.access`` and saves the installation through stockbot's installation
   store (``storage/slack_installations.SlackInstallations``: the bot token encrypted with
   ``STOCKBOT_SECRET_KEY``, an audit row). A refused or failed installation is audited as a refused request.
3. From then on Bolt authorizes each request from that workspace with its stored token, and the Slack
   adapter posts to ``T…/C…`` channels with it.

``app_uninstalled`` and ``tokens_revoked`` (Events API) delete the workspace's tokens, with an audit row. With
one configured ``bot_token`` they are audited and logged too: the token no longer works.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Protocol

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from stockbot.adapters.slack import SlackSettings
from stockbot.bot.refusals import refuse_request
from stockbot.bot.runtime import Runtime
from stockbot.handlers.problems import problem
from stockbot.storage.slack_installations import SlackInstallations, SlackOAuthStates, forget_workspace

log = logging.getLogger("stockbot.slack.install")

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# The bot scopes an installation asks for: manifests/slack/manifest.yaml's, which tests keep equal.
BOT_SCOPES = ("chat:write", "commands", "usergroups:read", "users:read")
STATE_LIFETIME = timedelta(minutes=10)


class SlackFront(Protocol):
    """What installing uses of the Slack front end (handlers/slack.py)."""

    runtime: Runtime
    settings: SlackSettings
    client: AsyncWebClient
    installations: SlackInstallations | None
    app: AsyncApp

    def forget(self, team_id: str) -> None: ...


def redirect_url(settings: SlackSettings, public_url: str | None) -> str:
    """``[slack] redirect_url``, else ``[server] public_url`` + /slack/oauth_redirect (config check requires
    one of them)."""
    return settings.redirect_url or f"{(public_url or '').rstrip('/')}{REDIRECT_PATH}"


def install_url(settings: SlackSettings, public_url: str | None) -> str:
    """The "Add to Slack" link to hand to each workspace: on the host Slack redirects back to."""
    redirect = redirect_url(settings, public_url)
    return (
        redirect.removesuffix(REDIRECT_PATH) + INSTALL_PATH
        if redirect.endswith(REDIRECT_PATH)
        else (f"{(public_url or '').rstrip('/')}{INSTALL_PATH}")
    )


def oauth_flow(front: SlackFront) -> AsyncOAuthFlow:
    """Bolt's OAuth flow on stockbot's database: the installation store and the state store."""
    settings, runtime = front.settings, front.runtime
    assert settings.client_id is not None and settings.client_secret is not None
    if front.installations is None:
        raise RuntimeError("installing per workspace needs STOCKBOT_SECRET_KEY (config check says so)")

    async def installed(args: AsyncSuccessArgs) -> BoltResponse:
        installation = args.installation
        front.forget(installation.team_id or "")  # a reinstall: the next request takes the new token
        log.info("slack: installed by %s in %s", installation.user_id, installation.team_id)
        return await args.default.success(args)

    async def refused(args: AsyncFailureArgs) -> BoltResponse:
        await refuse_request(
            runtime.engine,
            runtime.clock,
            front_end="slack",
            why="oauth",
            actor="slack:?",
            path=REDIRECT_PATH,
            remote=None,
            reason=f"installation not completed: {args.reason}",
        )
        return await args.default.failure(args)

    return AsyncOAuthFlow(
        client=front.client,  # the api_url of [slack], so a test (or a proxy) can stand in for Slack
        logger=log,
        settings=AsyncOAuthSettings(
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            redirect_uri=redirect_url(settings, runtime.config.server.public_url),
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            install_page_rendering_enabled=False,  # straight to Slack's consent screen
            installation_store=front.installations,
            installation_store_bot_only=True,  # no user tokens: the bot's is all stockbot uses
            state_store=SlackOAuthStates(runtime.engine, STATE_LIFETIME, now=runtime.clock.now),
            state_expiration_seconds=int(STATE_LIFETIME.total_seconds()),
            callback_options=AsyncCallbackOptions(success=installed, failure=refused),
            logger=log,
        ),
    )


def add_routes(app: web.Application, front: SlackFront) -> None:
    """``GET /slack/install`` and ``GET /slack/oauth_redirect``, when installing per workspace."""
    flow: AsyncOAuthFlow | None = front.app.oauth_flow
    if flow is None:
        return

    async def install(request: web.Request) -> web.Response:
        return _unprintable(request) or await to_aiohttp_response(
            await flow.handle_installation(_bolt_request(request))
        )

    async def redirected(request: web.Request) -> web.Response:
        return _unprintable(request) or await to_aiohttp_response(
            await flow.handle_callback(_bolt_request(request))
        )

    app.router.add_get(INSTALL_PATH, install)
    app.router.add_get(REDIRECT_PATH, redirected)


def _unprintable(request: web.Request) -> web.Response | None:
    """400 for a query value with a control character: Bolt copies ``team`` into the redirect's Location,
    and a header cannot carry one (the server would drop the connection instead of answering)."""
    for name, value in request.query.items():
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            detail = f"the query parameter {name!r} holds a control character; send it without one"
            return problem(400, "Bad Request", detail)
    return None


def _bolt_request(request: web.Request) -> AsyncBoltRequest:
    return AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))


def listen(app: AsyncApp, front: SlackFront) -> None:
    """Bolt event listeners: a workspace removing the app, or revoking its tokens, deletes them."""

    async def uninstalled(body: dict[str, Any]) -> None:
        await _forget(front, str(body.get("team_id") or ""), "app_uninstalled")

    async def revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("tokens") or {}).get("bot"):  # user tokens: stockbot keeps none
            await _forget(front, str(body.get("team_id") or ""), "tokens_revoked")

    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(revoked)


async def _forget(front: SlackFront, team: str, reason: str) -> None:
    runtime = front.runtime
    if front.installations is not None:
        await front.installations.remove(team, reason=reason, actor=f"slack:{team}")
    else:
        await forget_workspace(
            runtime.engine, team, reason=reason, actor=f"slack:{team}", at=runtime.clock.now()
        )
        log.error(
            "slack: workspace %s %s: [slack] bot_token no longer works; reinstall the app and update it",
            team,
            reason.replace("_", " "),
        )
    front.forget(team)
