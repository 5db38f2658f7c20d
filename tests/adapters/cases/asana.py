"""Asana: a Bearer personal access token, a task created in a project at a fake ``app.asana.com/api/1.0``."""

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

ACCESS_TOKEN = "2/1200000000000099/1209999999999999:0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PROJECT_GID = "1200000000000001"
TASK_GID = "1209876543210001"


def authorised(recorded: Recorded) -> bool:
    return recorded.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"


def unauthorised() -> web.Response:
    errors = [{"message": "Not Authorized", "help": "For more information on API status codes..."}]
    return web.json_response({"errors": errors}, status=401)


def _created(recorded: Recorded) -> web.Response:
    if not authorised(recorded):
        return unauthorised()
    task = {"gid": TASK_GID, "resource_type": "task", "completed": False, **recorded.body["data"]}
    task["projects"] = [{"gid": gid, "resource_type": "project"} for gid in task["projects"]]
    return web.json_response({"data": task}, status=201)


def configure(fake: FakeVendor) -> None:
    fake.describe_by("asana")
    fake.expect("POST", "/tasks", respond=_created, name="create")


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "access_token": ACCESS_TOKEN}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    task = call.body["data"]
    # Docs: one of workspace, parent or projects is required (not expressible in the spec's schema).
    assert task["projects"] == [PROJECT_GID]
    assert "PIN-GODZ-PRO" in task["name"]
    assert task["notes"].startswith("Priority: Urgent")
    assert not {"gid", "resource_type", "created_at", "completed_at"} & set(task)  # read-only fields


CASE = AdapterCase(
    name="asana",
    configure=configure,
    settings=settings,
    address=PROJECT_GID,
    main_operation="create",
    secrets=[ACCESS_TOKEN],
    check_sent=_check,
    external_id=TASK_GID,
)
