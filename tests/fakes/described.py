"""The operations a vendor file in ``../shared/vendor-api`` describes, and how a request is checked.

Each file has a main operation and, often, ``additional_operations`` (follow-up calls, token endpoints). For a
request the fake finds the one operation whose method and path template match (plus, where one endpoint
carries several operations, the GraphQL field for monday.com and the ``Action`` of the AWS Query protocol),
brings the request to the shape the file describes, and validates it with ``jsonschema``:

- JSON bodies as they are; form, multipart and query-string parameters as the object of strings the wire
  carries, each converted to the type the schema gives it (``"true"`` → true where a boolean is described,
  as the vendor's own parser does);
- GraphQL requests as ``{"query", "variables"}`` with the variables keyed by the mutation's *argument*
  names (what the file's schema describes; on the wire a client may name its variables anything);
- AWS Query forms folded back into the logical input the file describes (``MessageAttributes.entry.N.*``);
- ``docs_constraints`` (rules from the vendor's docs that its spec does not encode) are added to the schema
  where they are JSON Schema, which all of them are today; a prose-only constraint is reported, not skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, Undefined, parse  # with moto[server]
from graphql.utilities import value_from_ast_untyped

from tests.fakes.shared import vendor_spec

# Keys of a docs_constraints object that say something to a reader but nothing to a validator.
_PROSE_KEYS = {"description", "$comment", "title"}
_TEMPLATE_VARIABLE = re.compile(r"\{[^}:]+(?::([^}]+))?\}")
_AWS_ENTRY = re.compile(r"^(\w+)\.entry\.(\d+)\.(Name|Value\.(\w+))$")


@dataclass(frozen=True)
class Described:
    """One operation of a vendor file, ready to match requests and validate their bodies."""

    file: str
    operation: str
    method: str
    path: str
    content_type: str | None
    schema: dict[str, Any] | None
    graphql_field: str | None = None
    aws_action: str | None = None  # the AWS Query protocol's Action, when the file says it speaks it
    deprecated: bool = False
    notes: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return f"{self.file}.json {self.operation!r}"

    def matches_path(self, path: str) -> bool:
        return self.pattern is not None and self.pattern.fullmatch(path) is not None


def operation_entry(spec: dict[str, Any], operation: str | None = None) -> dict[str, Any]:
    """The file's main operation, or the named ``additional_operations`` entry."""
    if operation is None or operation == spec.get("operation"):
        return spec
    for entry in spec.get("additional_operations", []):
        if entry.get("operation") == operation:
            return entry
    raise KeyError(f"{spec.get('platform')}: no operation {operation!r} in the vendor file")


def operation_schema(spec: dict[str, Any], operation: str | None = None) -> dict[str, Any]:
    """The request schema of an operation, with its machine-checkable ``docs_constraints`` added."""
    entry = operation_entry(spec, operation)
    schema = dict(entry.get("request_schema") or {})
    constraints = entry.get("docs_constraints")
    if constraints:
        rules = {k: v for k, v in constraints.items() if k not in _PROSE_KEYS}
        if not rules:
            raise ValueError(f"{operation!r}: docs_constraints has no JSON Schema to check; read it by hand")
        # Added at the root so that $ref/$defs/definitions in either resolve as they would alone.
        schema["allOf"] = [*schema.get("allOf", []), rules]
    return schema


def path_pattern(template: str) -> re.Pattern[str] | None:
    """``/tasks/{task_gid}/stories`` → a regex; None for a path the file gives in prose (a URL as issued)."""
    if not template.startswith("/"):
        return None
    pattern, end = "", 0
    for match in _TEMPLATE_VARIABLE.finditer(template):  # {name} is one segment; {name:regex} as aiohttp
        pattern += re.escape(template[end : match.start()]) + f"(?:{match.group(1) or '[^/]+'})"
        end = match.end()
    return re.compile(pattern + re.escape(template[end:]))


def operations(file: str, only: Iterable[str] | None = None) -> list[Described]:
    """Every operation ``file`` describes (or those named in ``only``), main operation first."""
    spec = vendor_spec(file)
    wanted = set(only) if only is not None else None
    found = []
    for entry in [spec, *spec.get("additional_operations", [])]:
        if wanted is not None and entry["operation"] not in wanted:
            continue
        for path in [entry["path"], *entry.get("alt_paths", [])]:
            found.append(describe(file, spec, entry, entry["method"], path))
    return found


def describe(file: str, spec: dict[str, Any], entry: dict[str, Any], method: str, path: str) -> Described:
    protocol = str(spec.get("protocol", "")) if entry is spec else ""
    return Described(
        file=file,
        operation=entry["operation"],
        method=method.upper(),
        path=path,
        content_type=entry.get("content_type"),
        schema=operation_schema(spec, entry["operation"]) if entry.get("request_schema") else None,
        graphql_field=entry.get("graphql_field"),
        aws_action=entry["operation"] if protocol.startswith("query (AWS Query") else None,
        deprecated=bool(entry.get("deprecated")),
        notes=tuple(entry.get("notes", [])),
        pattern=path_pattern(path),
    )


# --- bringing a request to the shape the file describes --------------------------------------------------


def _declared_types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()


def _typed(value: Any, schema: dict[str, Any]) -> Any:
    """A wire string as the type its schema declares, when it reads as one (else left for the validator)."""
    if not isinstance(value, str):
        return value
    kinds = _declared_types(schema)
    if "string" in kinds:
        return value
    if "boolean" in kinds and value in ("true", "false"):
        return value == "true"
    if "integer" in kinds and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in kinds and re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", value):
        return float(value)
    return value


def typed_parameters(params: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Form, multipart or query parameters (strings on the wire) with the types the schema describes."""
    properties = schema.get("properties", {})
    return {key: _typed(value, properties.get(key, {})) for key, value in params.items()}


def graphql_request(body: Any) -> tuple[str | None, dict[str, Any], list[str]]:
    """The first field of a GraphQL request's operation, its arguments by name (variables substituted), and
    any problem reading it."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return None, {}, ["a GraphQL request is a JSON object with a string 'query'"]
    variables = body.get("variables") or {}
    try:
        document = parse(body["query"])
    except GraphQLError as error:
        return None, {}, [f"query is not GraphQL: {error.message}"]
    definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(definitions) != 1 or not definitions[0].selection_set.selections:
        return None, {}, ["the query must hold exactly one operation"]
    first = definitions[0].selection_set.selections[0]
    if not isinstance(first, FieldNode):
        return None, {}, ["the operation's first selection is not a field"]
    arguments = {arg.name.value: value_from_ast_untyped(arg.value, variables) for arg in first.arguments}
    # An argument whose variable was not sent is not given at all (GraphQL spec, CoerceArgumentValues).
    return first.name.value, {k: v for k, v in arguments.items() if v is not Undefined}, []


def aws_query_input(form: dict[str, Any]) -> dict[str, Any]:
    """An AWS Query form folded back into the operation's logical input: ``Action``/``Version`` dropped,
    ``Name.entry.N.Name`` / ``Name.entry.N.Value.X`` maps rebuilt as ``{Name: {name: {X: …}}}``."""
    params: dict[str, Any] = {}
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for key, value in form.items():
        if key in ("Action", "Version"):
            continue
        match = _AWS_ENTRY.match(key)
        if not match:
            params[key] = value
            continue
        entry = entries.setdefault((match.group(1), match.group(2)), {"value": {}})
        if match.group(3) == "Name":
            entry["name"] = value
        else:
            entry["value"][match.group(4)] = value
    for (member, _), entry in entries.items():
        params.setdefault(member, {})[entry.get("name", "?")] = entry["value"]
    return params


def schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    """Every validation error of ``document`` against a draft 2020-12 (or declared) JSON Schema."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<body>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
