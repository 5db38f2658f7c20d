"""The Bot Framework token on every request to ``/api/messages`` in production mode, checked in one place.

With ``[teams] app_id`` set, Teams (the Bot Connector) sends ``Authorization: Bearer <JWT>``. It is checked as
Microsoft Learn "Authenticate requests with the Bot Connector API" (connector to bot, steps 2 to 4) says:

1. the Bearer scheme; a JWT signed with RS256 whose header names its key (``kid``);
2. signed by that key, listed in the JWKS at the ``jwks_uri`` of the configured OpenID metadata document
   (``[teams] openid_metadata_url``, from the ``cloud`` preset unless overridden);
3. ``iss`` one of ``token_issuers``; ``aud`` the app id; not expired, with the documented 5 minutes of skew;
4. the ``serviceurl`` claim names the activity's ``serviceUrl`` (where stockbot will send its own token).

Why here and not the Agents SDK's ``JwtTokenValidator`` (1.9.0): it chooses the signing keys from the
token's own issuer with URLs written into the SDK (login.botframework.com, login.botframework.azure.us,
login.microsoftonline.com/…), and ``AgentAuthConfiguration`` has no setting for the metadata or key URL, so
it can neither follow a configured cloud's endpoints nor be pointed at a local issuer to test production mode
offline; and it only logs a ``serviceurl`` mismatch unless its outbound host validator is switched on. After
this check the SDK runs the turn with these claims (``request["claims_identity"]``), as its own middleware
would have stored them.

Keys: PyJWT's ``PyJWKClient`` keeps the JWKS for 5 days (Bot Builder's default: the doc says the list is
stable and may be cached for long periods) and refetches for an unknown ``kid`` at most once per 5 minutes,
so made-up key ids cannot make stockbot hammer Microsoft's endpoint. It is synchronous: it runs in a thread.
The metadata document is read on stockbot's aiohttp session and kept for a day. When neither can be read,
the request is answered 503 (the Bot Connector retries), not 401: the sender did nothing wrong.

Not checked: the keys' ``endorsements`` (the channel ids a key may sign for); the SDK does not check them
either.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt
from aiohttp import web
from microsoft_agents.hosting.core import ClaimsIdentity

from stockbot.adapters.teams_config import TeamsSettings
from stockbot.handlers.problems import problem

log = logging.getLogger("stockbot.teams")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Why a request was refused, for the audit row the front end writes (handlers/teams.py ``_refused``).
REFUSAL = web.RequestKey("stockbot_teams_refusal", str)
ALGORITHMS = ["RS256"]  # what the Bot Framework's metadata lists in id_token_signing_alg_values_supported
CLOCK_SKEW = 300.0  # seconds: "Industry-standard clock-skew is 5 minutes"
KEYS_LIFESPAN = 5 * 24 * 3600.0
UNKNOWN_KID_COOLDOWN = 300.0
METADATA_LIFESPAN = 24 * 3600.0
METADATA_RETRY = 30.0  # after a failed read, requests are answered 503 without another try for this long
PREFIX = "invalid, expired or foreign Bot Framework token"
_ANSWER_401 = {"error": "Invalid token or authentication failed."}  # the SDK's own wording


class TokenRefused(Exception):
    """The request's token does not prove it came from the Bot Connector for this bot; says why."""


class KeysUnavailable(Exception):
    """The OpenID metadata or the signing keys could not be read: no token can be checked now."""


class BotFrameworkTokens:
    def __init__(self, settings: TeamsSettings, http: aiohttp.ClientSession) -> None:
        assert settings.app_id, "production mode only: without app_id the SDK's anonymous mode applies"
        self.app_id = settings.app_id
        self.endpoints = settings.endpoints
        self.http = http
        self.timeout = settings.timeout_seconds
        self._keys: jwt.PyJWKClient | None = None
        self._metadata_read_at = 0.0
        self._metadata_failed: tuple[float, str] | None = None  # when, and why
        self._lock = asyncio.Lock()

    def guard(self, handler: Handler) -> Handler:
        """``handler`` behind the check: 401 (the reason kept for the audit row), 503, or the SDK's turn."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                identity = await self.identity(request)
            except TokenRefused as refused:
                request[REFUSAL] = str(refused)
                return web.json_response(_ANSWER_401, status=401)
            except KeysUnavailable as exc:
                log.error("teams: cannot check Bot Framework tokens: %s", exc)
                answer = problem(503, "Service Unavailable", "stockbot cannot check Bot Framework tokens now")
                answer.headers["Retry-After"] = "30"
                return answer
            with warnings.catch_warnings():
                # The SDK reads its claims from this plain string key of the request.
                warnings.simplefilter("ignore", web.NotAppKeyWarning)
                request["claims_identity"] = identity
            return await handler(request)

        return guarded

    async def identity(self, request: web.Request) -> ClaimsIdentity:
        """The token's claims, once every check holds; TokenRefused or KeysUnavailable otherwise."""
        token = _bearer(request.headers.get("Authorization"))
        kid = _key_id(token)
        key = await self._signing_key(kid)
        claims = self._verified(token, key)
        service_url = _service_url_of(await request.read())
        if service_url is not None and not _same_service(claims.get("serviceurl"), service_url):
            raise TokenRefused("the activity's serviceUrl does not match the token")
        return ClaimsIdentity(claims, security_token=token)

    def _verified(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.app_id,
                issuer=list(self.endpoints.token_issuers),
                leeway=CLOCK_SKEW,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused(f"{PREFIX}: expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(f"{PREFIX}: its audience is not this bot's app id") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused(f"{PREFIX}: its issuer is not one of [teams] token_issuers") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused(f"{PREFIX}: the signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"{PREFIX}: {type(exc).__name__}") from None

    # --- the keys ------------------------------------------------------------------------------------------
    async def _signing_key(self, kid: str) -> jwt.PyJWK:
        client = await self._client()
        try:
            return await asyncio.to_thread(client.get_signing_key, kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailable(f"the signing keys at {client.uri}: {exc}") from None
        except jwt.PyJWKClientError:
            raise TokenRefused(f"{PREFIX}: signed with a key the Bot Framework does not list") from None
        except jwt.PyJWTError as exc:  # a JWKS that is no key set
            raise KeysUnavailable(f"the signing keys at {client.uri} are unusable: {exc}") from None

    async def _client(self) -> jwt.PyJWKClient:
        """The JWKS client for the metadata's ``jwks_uri``, re-read once a day (a new URI, a new client)."""
        async with self._lock:
            if self._keys is None or time.monotonic() - self._metadata_read_at > METADATA_LIFESPAN:
                uri = await self._jwks_uri_not_too_often()
                if self._keys is None or self._keys.uri != uri:
                    self._keys = jwt.PyJWKClient(
                        uri,
                        lifespan=KEYS_LIFESPAN,
                        cooldown_duration=UNKNOWN_KID_COOLDOWN,
                        timeout=self.timeout,
                    )
                self._metadata_read_at = time.monotonic()
            return self._keys

    async def _jwks_uri_not_too_often(self) -> str:
        """A flood of requests while the metadata cannot be read makes one attempt per METADATA_RETRY."""
        if self._metadata_failed and time.monotonic() - self._metadata_failed[0] < METADATA_RETRY:
            raise KeysUnavailable(self._metadata_failed[1])
        try:
            uri = await self._jwks_uri()
        except KeysUnavailable as exc:
            self._metadata_failed = (time.monotonic(), str(exc))
            raise
        self._metadata_failed = None
        return uri

    async def _jwks_uri(self) -> str:
        url = self.endpoints.openid_metadata_url
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with self.http.get(url, timeout=timeout) as response:
                response.raise_for_status()
                metadata = json.loads(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise KeysUnavailable(f"the OpenID metadata at {url}: {type(exc).__name__}: {exc}") from None
        if not isinstance(metadata, dict):
            raise KeysUnavailable(f"the OpenID metadata at {url} is not a JSON object")
        uri, algorithms = metadata.get("jwks_uri"), metadata.get("id_token_signing_alg_values_supported")
        if not isinstance(uri, str) or urlsplit(uri).scheme not in ("http", "https"):
            raise KeysUnavailable(f"the OpenID metadata at {url} names no http(s) jwks_uri")
        if isinstance(algorithms, list) and not set(ALGORITHMS) & set(algorithms):
            raise KeysUnavailable(f"the OpenID metadata at {url} does not sign with {ALGORITHMS[0]}")
        return uri


def _bearer(header: str | None) -> str:
    if not header:
        raise TokenRefused("no Authorization header: Teams requests carry a Bot Framework token")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        raise TokenRefused(f"{PREFIX}: the Authorization header is not 'Bearer <token>'")
    return token


def _key_id(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRefused(f"{PREFIX}: not a JWT") from None
    if header.get("alg") not in ALGORITHMS:
        raise TokenRefused(f"{PREFIX}: signed with {str(header.get('alg'))[:20]!r}, not RS256")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRefused(f"{PREFIX}: its header names no signing key (kid)")
    return kid


def _service_url_of(body: bytes) -> str | None:
    """The activity's serviceUrl, if the body is a JSON object with one; anything else is the SDK's to
    refuse (400) after the token is found good."""
    try:
        activity = json.loads(body)
    except ValueError:
        return None
    value = activity.get("serviceUrl") if isinstance(activity, dict) else None
    return value if isinstance(value, str) else None


def _same_service(claimed: Any, service_url: str) -> bool:
    """Scheme, host (any case), port and path, a trailing slash aside."""
    if not isinstance(claimed, str):
        return False
    try:
        a, b = urlsplit(claimed), urlsplit(service_url)
        return (a.scheme.lower(), (a.hostname or "").lower(), a.port, a.path.rstrip("/")) == (
            b.scheme.lower(),
            (b.hostname or "").lower(),
            b.port,
            b.path.rstrip("/"),
        )
    except ValueError:  # a port that is not a number
        return False
