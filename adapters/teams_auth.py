"""stockbot's own Bot Framework token, the bearer of every Bot Connector call, in any Microsoft cloud.

OAuth 2.0 client credentials, as Microsoft Learn "Authenticate requests with the Bot Connector API" step 1
describes: ``POST {authority}/{tenant}/oauth2/v2.0/token`` with the app id, its client secret and the
cloud's Bot Connector scope (``[teams]`` and :mod:`adapters.teams_config`). The request goes out on our
aiohttp session through the one token cache (``adapters/oauth.py`` ``CachedToken``: kept until a minute
before it expires, one fetch at a time), and the Agents SDK gets it through its own token-provider interface,
so replies in a turn and proactive posts and updates carry the same token.

Why not the SDK's ``MsalConnectionManager``:

- MSAL Python requires an https authority and, for a host it does not know, first calls instance discovery
  at login.microsoftonline.com; ``AgentAuthConfiguration`` has no setting to turn that off, so MSAL cannot
  be pointed at a proxy without Microsoft's discovery, nor at the local token endpoint the tests run.
- The SDK asks for the scope ``ClaimsIdentity.get_token_scope()`` gives, which is always
  ``https://api.botframework.com/.default``: a US Government bot needs ``https://api.botframework.us/.default``.
- MSAL is synchronous; the SDK runs it in a thread for each token.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from microsoft_agents.hosting.core import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    AuthTypes,
    ConnectionManager,
)

from stockbot.adapters.oauth import CachedToken, Token, TokenGrant, TokenRequest
from stockbot.adapters.teams_config import TeamsSettings

SERVICE_CONNECTION = "SERVICE_CONNECTION"  # the SDK's name for the one connection a bot has


class BotConnectorGrant(TokenGrant):
    vendor = "Bot Framework"

    def __init__(self, settings: TeamsSettings) -> None:
        assert settings.app_id and settings.app_password is not None  # TeamsSettings checks the pair
        self.settings = settings

    async def request(self) -> TokenRequest:
        settings, endpoints = self.settings, self.settings.endpoints
        assert settings.app_id and settings.app_password is not None
        form = {
            "grant_type": "client_credentials",
            "client_id": settings.app_id,
            "client_secret": settings.app_password.get_secret_value(),
            "scope": endpoints.scope,
        }
        return TokenRequest(url=endpoints.token_url(settings.tenant_id), form=form)


class BotConnectorTokens(AccessTokenProviderBase):
    """The SDK's token provider over :class:`CachedToken`. Whatever scope the SDK asks for, the token is for
    the configured one (the SDK's choice is the public cloud's, see the module docstring)."""

    def __init__(self, settings: TeamsSettings, http: aiohttp.ClientSession) -> None:
        self.cache = CachedToken(BotConnectorGrant(settings), http, settings.timeout_seconds)
        self._last: tuple[Token, bool] | None = None  # the token handed out last, and whether it was fresh
        self._proven: Token | None = None  # the last token a Bot Connector call succeeded with
        self._configuration = AgentAuthConfiguration(
            auth_type=AuthTypes.client_secret,
            client_id=settings.app_id,
            tenant_id=settings.tenant_id or settings.endpoints.channel_auth_tenant,
            authority=settings.endpoints.authority,
            scopes=[settings.endpoints.scope],
            issuers=list(settings.endpoints.token_issuers),
            anonymous_allowed=False,
        )  # no secret here: the SDK logs its connection configurations

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._configuration

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        if force_refresh:
            token, fresh = await self.cache.get()
            if not fresh:
                self.cache.forget(token)
        self._last = await self.cache.get()
        return self._last[0].value

    def worked(self) -> None:
        """A Bot Connector call with the token handed out last succeeded: that token is good."""
        if self._last is not None:
            self._proven = self._last[0]

    def refused(self) -> None:
        """The Bot Connector answered 401. A token that has worked before was revoked or expired early: it is
        dropped and RetryableError raised, so the retry fetches a new one. A token that never worked is
        refused on its merits (app registration, scope): the caller's status check makes that permanent."""
        if self._last is not None:
            token = self._last[0]
            self.cache.unauthorized(token, fresh=token is not self._proven)

    def get_token_credential(self) -> Any:
        raise NotImplementedError("stockbot calls no Azure SDK client with the bot's credential")

    # Sign-in on behalf of a user and agentic identities: stockbot uses neither.
    async def acquire_token_on_behalf_of(self, scopes: list[str], user_assertion: str) -> str:
        raise NotImplementedError("stockbot does not act on behalf of users")

    async def get_agentic_application_token(self, tenant_id: str, agent_app_instance_id: str) -> str | None:
        raise NotImplementedError("stockbot is no agentic application")

    async def get_agentic_instance_token(self, tenant_id: str, agent_app_instance_id: str) -> tuple[str, str]:
        raise NotImplementedError("stockbot is no agentic application")

    async def get_agentic_user_token(
        self, tenant_id: str, agent_app_instance_id: str, agentic_user_id: str, scopes: list[str]
    ) -> str | None:
        raise NotImplementedError("stockbot is no agentic application")


def bot_connector_connections(settings: TeamsSettings, http: aiohttp.ClientSession) -> ConnectionManager:
    """The SDK's connections: the bot's own token with an app id; without one none (anonymous, local use)."""
    if settings.app_id:
        tokens = BotConnectorTokens(settings, http)
        return ConnectionManager(lambda _: tokens, {SERVICE_CONNECTION: tokens.configuration})
    anonymous = AgentAuthConfiguration(anonymous_allowed=True)
    return ConnectionManager(lambda _: AnonymousTokenProvider(), {SERVICE_CONNECTION: anonymous})
