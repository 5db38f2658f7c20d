"""NetSuite: OAuth 1.0a TBA (HMAC-SHA256) checked and recomputed by the fake, a task record created."""

from __future__ import annotations

from aiohttp import web
from oauthlib.oauth1 import Client
from oauthlib.oauth1.rfc5849 import signature, utils

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

ACCOUNT_ID = "1234567_SB1"
CONSUMER_KEY = "ns-consumer-key-3f6a9d2c81e04b57a1c3"
CONSUMER_SECRET = "ns-consumer-secret-94be1c7d0a2f4e8b"
TOKEN_ID = "ns-token-id-5d8e2a7c4b1f40d9b6e2"
TOKEN_SECRET = "ns-token-secret-0c7b3e9f1a6d42c8"
TASK_ID = "4711"
REQUIRED = {
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_version",
    "oauth_signature",
}


def oauth_problems(recorded: Recorded) -> list[str]:
    """Why this request's Authorization header is not a valid TBA header for our credentials (empty if it is).

    The signature is recomputed with oauthlib's own RFC 5849 functions over the URL the fake was called at.
    """
    header = recorded.headers.get("Authorization", "")
    try:
        params = {key: utils.unescape(value) for key, value in utils.parse_authorization_header(header)}
    except ValueError:
        return ["Authorization is not an OAuth header"]
    problems = [f"missing {name}" for name in sorted(REQUIRED - set(params))]
    if params.get("realm") != ACCOUNT_ID:
        problems.append(f"realm is {params.get('realm')!r}, not the account id")
    if params.get("oauth_signature_method") != "HMAC-SHA256":
        problems.append("oauth_signature_method is not HMAC-SHA256")
    if params.get("oauth_version", "1.0") != "1.0":
        problems.append("oauth_version is not 1.0")
    if (params.get("oauth_consumer_key"), params.get("oauth_token")) != (CONSUMER_KEY, TOKEN_ID):
        problems.append("unknown consumer key or token")
    if problems:
        return problems
    collected = signature.collect_parameters(headers={"Authorization": header}, exclude_oauth_signature=True)
    base = signature.signature_base_string(
        recorded.method,
        signature.base_string_uri(f"http://{recorded.headers['Host']}{recorded.path}"),
        signature.normalize_parameters(collected),
    )
    secrets = Client(CONSUMER_KEY, client_secret=CONSUMER_SECRET, resource_owner_secret=TOKEN_SECRET)
    if signature.sign_hmac_sha256_with_client(base, secrets) != params["oauth_signature"]:
        problems.append("signature does not match")
    return problems


def invalid_login(problems: list[str]) -> web.Response:
    detail = {"detail": "Invalid login attempt. " + "; ".join(problems), "o:errorCode": "INVALID_LOGIN"}
    return web.json_response(
        {
            "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2",
            "title": "Unauthorized",
            "status": 401,
            "o:errorDetails": [detail],
        },
        status=401,
    )


def created(recorded: Recorded) -> web.Response:
    problems = oauth_problems(recorded)
    if problems:
        return invalid_login(problems)
    location = f"http://{recorded.headers['Host']}/services/rest/record/v1/task/{TASK_ID}"
    return web.Response(status=204, headers={"Location": location})


def configure(fake: FakeVendor) -> None:
    fake.describe_by("netsuite")
    fake.expect("POST", "/services/rest/record/v1/task", respond=created, name="create")


def settings(base_url: str) -> dict[str, object]:
    return {
        "base_url": base_url,
        "account_id": ACCOUNT_ID,
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "token_id": TOKEN_ID,
        "token_secret": TOKEN_SECRET,
    }


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    assert call.body["assigned"] == {"id": "-5"}
    assert call.body["priority"] == "HIGH"  # critical severity
    assert call.body["status"] == "NOTSTART"
    assert "PIN-GODZ-PRO" in call.body["title"]
    assert "SO-1001" in call.body["message"]


CASE = AdapterCase(
    name="netsuite",
    configure=configure,
    settings=settings,
    address="-5",
    main_operation="create",
    secrets=[CONSUMER_SECRET, TOKEN_SECRET, TOKEN_ID, CONSUMER_KEY],
    check_sent=_check,
    external_id=TASK_ID,
)
