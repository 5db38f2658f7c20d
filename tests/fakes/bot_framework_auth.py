"""Microsoft's side of Bot Framework authentication on 127.0.0.1, with an RSA key of its own.

Three endpoints, as Microsoft Learn "Authenticate requests with the Bot Connector API" describes them:

- ``GET /v1/.well-known/openidconfiguration``: the OpenID metadata (issuer, ``jwks_uri``, RS256);
- ``GET /v1/.well-known/keys``: the JWKS with the signing key, its ``kid`` and ``endorsements``;
- ``POST /{tenant}/oauth2/v2.0/token``: the Entra ID client-credentials endpoint, checked against
  ``outlook_graph.json``'s client-credentials entry (one Entra endpoint for every Microsoft API); it answers a
  real RS256 access token for the scope's resource, which :meth:`LocalIssuer.bearer_problem` checks when the
  fake Bot Connector receives it.

:meth:`LocalIssuer.token` signs what Teams sends a bot: a Bot Framework token for the app id with the
``serviceurl`` claim. ``key=``/``kid=``/``headers=``/claims make the forged, expired and foreign ones::

    issuer = LocalIssuer(app_id=APP_ID, app_password="secret")
    await issuer.start()
    config = {"authority": issuer.authority, "openid_metadata_url": issuer.openid_metadata_url}
    token = issuer.token(service_url=connector.service_url)
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes.vendor import FakeVendor, Recorded

TOKEN_OPERATION = "OAuth 2.0 token (client credentials)"  # in outlook_graph.json: one Entra ID endpoint
PUBLIC_ISSUER = "https://api.botframework.com"
_kids = itertools.count(1)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class LocalIssuer:
    def __init__(
        self,
        *,
        app_id: str,
        app_password: str,
        issuer: str = PUBLIC_ISSUER,
        resource: str = "https://api.botframework.com",
    ) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.issuer = issuer  # the iss of the tokens Teams sends (the cloud's ToBotFromChannelTokenIssuer)
        self.resource = resource  # the aud of stockbot's own token: its scope without /.default
        self.key = new_key()
        self.kid = f"local-key-{next(_kids)}"
        self.issued: list[str] = []
        self.vendor = FakeVendor("entra")
        self.vendor.describe_by("outlook_graph", only=[TOKEN_OPERATION])
        self.vendor.expect(
            "GET",
            "/v1/.well-known/openidconfiguration",
            respond=self._metadata,
            name="metadata",
            undescribed="the Bot Framework OpenID metadata: a document Microsoft Learn shows, no API call",
        )
        self.vendor.expect(
            "GET",
            "/v1/.well-known/keys",
            respond=self._keys,
            name="keys",
            undescribed="the JWKS the OpenID metadata points at",
        )
        self.vendor.expect("POST", "/{tenant}/oauth2/v2.0/token", respond=self._token, name="token")

    async def start(self) -> str:
        return await self.vendor.start()

    async def close(self) -> None:
        await self.vendor.close()

    @property
    def url(self) -> str:
        return self.vendor.url

    @property
    def authority(self) -> str:
        return self.vendor.url

    @property
    def openid_metadata_url(self) -> str:
        return f"{self.vendor.url}/v1/.well-known/openidconfiguration"

    @property
    def errors(self) -> list[str]:
        return self.vendor.errors

    def calls(self, operation: str) -> list[Recorded]:
        return self.vendor.calls(operation)

    # --- what Teams sends a bot --------------------------------------------------------------------------
    def token(
        self,
        *,
        service_url: str,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: float = 3600,
        key: rsa.RSAPrivateKey | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A Bot Framework token as the Bot Connector signs it (Learn: "Connector to Bot: example JWT")."""
        now = int(time.time())
        payload = {
            "serviceurl": service_url,
            "nbf": now - 5,
            "exp": now + int(expires_in),
            "iss": issuer or self.issuer,
            "aud": audience or self.app_id,
            **claims,
        }
        header = {"kid": self.kid, "typ": "JWT", **(headers or {})}  # a header given as None is left out
        header = {name: value for name, value in header.items() if value is not None}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers=header)

    # --- the endpoints -------------------------------------------------------------------------------------
    def _metadata(self, _: Recorded) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{self.vendor.url}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    def _keys(self, _: Recorded) -> web.Response:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk = {**public, "kid": self.kid, "use": "sig", "endorsements": ["msteams"]}
        return web.json_response({"keys": [jwk]})

    def _token(self, recorded: Recorded) -> web.Response:
        form = recorded.body if isinstance(recorded.body, dict) else {}
        if (form.get("client_id"), form.get("client_secret")) != (self.app_id, self.app_password):
            error = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}
            return web.json_response(error, status=401)
        if form.get("scope") != f"{self.resource}/.default":
            error = {"error": "invalid_scope", "error_description": f"AADSTS70011: {form.get('scope')}"}
            return web.json_response(error, status=400)
        now = int(time.time())
        tenant = recorded.match["tenant"]
        claims = {
            "aud": self.resource,
            "iss": f"{self.vendor.url}/{tenant}/v2.0",
            "appid": self.app_id,
            "tenant": tenant,
            "nbf": now - 5,
            "exp": now + 3600,
        }
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        self.issued.append(token)
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "access_token": token})

    # --- what the Bot Connector checks ---------------------------------------------------------------------
    def bearer_problem(self, authorization: str | None) -> str | None:
        """Why the Bot Connector would refuse this Authorization header, or None: a bearer token this issuer
        signed, for the connector's resource, for this app, not expired."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or not token:
            return f"no bearer token (Authorization: {authorization!r})"
        try:
            claims = jwt.decode(token, self.key.public_key(), algorithms=["RS256"], audience=self.resource)
        except jwt.PyJWTError as exc:
            return f"bearer token refused: {type(exc).__name__}: {exc}"
        if claims.get("appid") != self.app_id:
            return f"bearer token for app {claims.get('appid')!r}, not {self.app_id!r}"
        return None
