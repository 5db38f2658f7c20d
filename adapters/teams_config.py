"""The ``[teams]`` section, and which Microsoft cloud the bot lives in: Bot Framework endpoints as presets.

``cloud`` names a preset of four values, each overridable in ``[teams]``:

- ``authority``: the Entra ID login endpoint for stockbot's own outbound token (OAuth 2.0 client credentials,
  ``POST {authority}/{tenant}/oauth2/v2.0/token``), sent as a bearer token with every Bot Connector call.
- ``openid_metadata_url``: the OpenID metadata document whose ``jwks_uri`` lists the keys that sign the Bot
  Framework tokens Teams sends to ``/api/messages``.
- ``token_issuers``: the ``iss`` values those inbound tokens may carry.
- ``scope``: the scope of the outbound token (the Bot Connector service).

The presets, from Microsoft Learn:

- ``public``, from "Authenticate requests with the Bot Connector API"
  (bot-framework-rest-connector-authentication): the token from
  ``https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token`` with scope
  ``https://api.botframework.com/.default``; inbound issuer ``https://api.botframework.com``; OpenID
  metadata ``https://login.botframework.com/v1/.well-known/openidconfiguration``.
- ``gcc_high`` and ``dod``, from "Configure Bot Framework bots for US Government customers"
  (how-to-deploy-gov-cloud-high): ``ToChannelFromBotLoginUrl``
  ``https://login.microsoftonline.us/MicrosoftServices.onmicrosoft.us``, ``ToChannelFromBotOAuthScope``
  ``https://api.botframework.us``, ``ToBotFromChannelTokenIssuer`` ``https://api.botframework.us``,
  ``ToBotFromChannelOpenIdMetadataUrl``
  ``https://login.botframework.azure.us/v1/.well-known/openidconfiguration``. The two environments differ
  only in ``OAuthUrl`` (the token service for user sign-in: tokengcch vs apiDoD), which stockbot does not
  use, so their presets are the same.

The Agents SDK (1.9.0, ``AuthenticationConstants``) knows the same issuers and metadata URLs
(``AGENTS_SDK_TOKEN_ISSUER``, ``GOV_AGENTS_SDK_TOKEN_ISSUER``, ``PUBLIC_ABS_OPENID_METADATA_URL``,
``GOV_ABS_OPENID_METADATA_URL``; a test compares them) but not the US Government login endpoint or scope:
its outbound scope is always ``https://api.botframework.com/.default``. Settings and checks only, no SDK
import here: reading the config loads no Teams SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, model_validator

from stockbot.adapters.base import AdapterSettings


@dataclass(frozen=True)
class BotFrameworkCloud:
    authority: str
    openid_metadata_url: str
    token_issuers: tuple[str, ...]
    scope: str
    # The token tenant of a multi-tenant bot (no tenant_id): the doc's ToChannelFromBotLoginUrl path.
    channel_auth_tenant: str

    def token_url(self, tenant_id: str | None) -> str:
        return f"{self.authority.rstrip('/')}/{tenant_id or self.channel_auth_tenant}/oauth2/v2.0/token"

    @property
    def audience(self) -> str:
        """What the outbound token is for: the scope without ``/.default`` (the Bot Connector's aud)."""
        return self.scope.removesuffix("/.default")


_US_GOVERNMENT = BotFrameworkCloud(
    authority="https://login.microsoftonline.us",
    openid_metadata_url="https://login.botframework.azure.us/v1/.well-known/openidconfiguration",
    token_issuers=("https://api.botframework.us",),
    scope="https://api.botframework.us/.default",
    channel_auth_tenant="MicrosoftServices.onmicrosoft.us",
)
CLOUDS: dict[str, BotFrameworkCloud] = {
    "public": BotFrameworkCloud(
        authority="https://login.microsoftonline.com",
        openid_metadata_url="https://login.botframework.com/v1/.well-known/openidconfiguration",
        token_issuers=("https://api.botframework.com",),
        scope="https://api.botframework.com/.default",
        channel_auth_tenant="botframework.com",
    ),
    "gcc_high": _US_GOVERNMENT,
    "dod": _US_GOVERNMENT,
}
OVERRIDES = ("authority", "openid_metadata_url", "token_issuers", "scope")

# Microsoft's own hosts and the cloud each belongs to: a key pointing at one cloud's host while another
# points at the other cloud's is a mistake worth stopping start-up for. Other hosts (a proxy, a local test
# issuer) say nothing about the cloud.
_FAMILY = {
    "login.microsoftonline.com": "public",
    "login.botframework.com": "public",
    "api.botframework.com": "public",
    "login.microsoftonline.us": "US Government",
    "login.botframework.azure.us": "US Government",
    "api.botframework.us": "US Government",
}
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def resolve(
    cloud: str,
    *,
    authority: str | None = None,
    openid_metadata_url: str | None = None,
    token_issuers: list[str] | None = None,
    scope: str | None = None,
) -> BotFrameworkCloud:
    """The preset named ``cloud`` with any key given here in its place; ValueError says what is wrong."""
    if cloud not in CLOUDS:
        known = ", ".join(f'"{name}"' for name in CLOUDS)
        raise ValueError(
            f"cloud: {cloud!r} is not a Microsoft cloud stockbot knows; write one of {known}, "
            "or keep the nearest and override authority, openid_metadata_url, token_issuers and scope"
        )
    preset = CLOUDS[cloud]
    problems = []
    if authority is not None:
        problems += _url_problems("authority", authority, path_allowed=False)
    if openid_metadata_url is not None:
        problems += _url_problems("openid_metadata_url", openid_metadata_url, path_allowed=True)
    if token_issuers is not None and not [i for i in token_issuers if i.strip()]:
        problems.append('token_issuers: list at least one issuer, e.g. ["https://api.botframework.com"]')
    if scope is not None and not scope.endswith("/.default"):
        problems.append(
            f"scope: {scope!r} is not a client-credentials scope; write the resource followed by "
            f'"/.default", e.g. "{scope.rstrip("/")}/.default"'
        )
    if problems:
        raise ValueError("; ".join(problems))
    endpoints = replace(
        preset,
        authority=(authority or preset.authority).rstrip("/"),
        openid_metadata_url=openid_metadata_url or preset.openid_metadata_url,
        token_issuers=tuple(i.strip() for i in token_issuers if i.strip())
        if token_issuers
        else preset.token_issuers,
        scope=scope or preset.scope,
    )
    written = {
        key
        for key, value in zip(OVERRIDES, (authority, openid_metadata_url, token_issuers, scope), strict=True)
        if value
    }
    _check_one_cloud(cloud, endpoints, written)
    return endpoints


def _url_problems(key: str, value: str, *, path_allowed: bool) -> list[str]:
    parts = urlsplit(value)
    local = (parts.hostname or "") in _LOOPBACK
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        return [f"{key}: {value!r} must be an https:// URL (http:// only for 127.0.0.1 or localhost)"]
    if not parts.hostname:
        return [f"{key}: {value!r} has no host name"]
    if not path_allowed and parts.path.strip("/"):
        return [
            f"{key}: write only the login endpoint, e.g. https://{parts.hostname}, without "
            f"{parts.path!r}: the tenant comes from tenant_id"
        ]
    if parts.query or parts.fragment:
        return [f"{key}: {value!r} must not carry a query or fragment"]
    return []


def _check_one_cloud(cloud: str, endpoints: BotFrameworkCloud, written: set[str]) -> None:
    """Every key that names one of Microsoft's hosts names the same cloud's (``written``: keys set in
    ``[teams]``, the others come from the preset)."""
    values = {
        "authority": [endpoints.authority],
        "openid_metadata_url": [endpoints.openid_metadata_url],
        "token_issuers": list(endpoints.token_issuers),
        "scope": [endpoints.scope],
    }
    families: dict[str, list[str]] = {}
    for key, urls in values.items():
        for url in urls:
            family = _FAMILY.get((urlsplit(url).hostname or "").lower())
            named = key if key in written else f"{key} (from cloud {cloud!r})"
            if family is not None and named not in families.setdefault(family, []):
                families[family].append(named)
    if len(families) > 1:
        said = "; ".join(f"{', '.join(keys)}: {family} cloud" for family, keys in families.items())
        raise ValueError(
            f"the Bot Framework endpoints mix Microsoft clouds ({said}): set cloud to the one you are in "
            '("public", "gcc_high" or "dod") and override only what differs there'
        )


class TeamsSettings(AdapterSettings):
    """The ``[teams]`` section. ``base_url``, when set, replaces every stored serviceUrl (a local fake).

    ``cloud`` names the Microsoft cloud's Bot Framework endpoints (the presets above); each of
    ``authority``, ``openid_metadata_url``, ``token_issuers`` and ``scope`` replaces the preset's own."""

    app_id: str | None = None
    app_password: SecretStr | None = None
    tenant_id: str | None = None  # None: a multi-tenant bot (the cloud's channel-auth tenant)
    cloud: str = "public"
    authority: str | None = None
    openid_metadata_url: str | None = None
    token_issuers: list[str] | None = None
    scope: str | None = None
    # Teams allows each bot 7 messages a second and 60 per 30 s in one conversation: space posts out.
    min_seconds_between_posts: float = Field(0.25, ge=0)
    _endpoints: BotFrameworkCloud = PrivateAttr()

    @model_validator(mode="after")
    def _consistent(self) -> TeamsSettings:
        problems = []
        if self.app_id and not self.app_password:
            problems.append("app_password is required with app_id (the client secret of the bot's app)")
        try:
            self._endpoints = resolve(
                self.cloud,
                authority=self.authority,
                openid_metadata_url=self.openid_metadata_url,
                token_issuers=self.token_issuers,
                scope=self.scope,
            )
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def endpoints(self) -> BotFrameworkCloud:
        """The Bot Framework endpoints in force: the cloud's preset with the keys written here."""
        return self._endpoints
