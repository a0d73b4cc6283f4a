"""The OpenAPI schema (drf-spectacular): generated without a warning, errors documented."""

import yaml
from django.core.management import call_command

from config.schema import BODY_ERROR_RESPONSES, BODY_METHODS, ERROR_RESPONSES

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _schema(tmp_path) -> dict:
    target = tmp_path / "schema.yaml"
    # --fail-on-warn: an unresolvable serializer, an enum name collision or an untyped
    # method field fails here instead of shipping a vague schema.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(target))
    return yaml.safe_load(target.read_text())


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation


def test_it_generates_the_schema_without_warnings(tmp_path):
    schema = _schema(tmp_path)

    assert schema["info"]["title"] == "copytrade API"
    assert "StrategyStatusEnum" in schema["components"]["schemas"]
    assert not [name for name in schema["components"]["schemas"] if any(char.isdigit() for char in name)]


def test_it_documents_the_error_shape_on_every_operation(tmp_path):
    schema = _schema(tmp_path)

    assert schema["components"]["schemas"]["Error"]["required"] == ["extra", "message"]
    for label, operation in _operations(schema):
        codes = {*ERROR_RESPONSES, *(BODY_ERROR_RESPONSES if label.split()[0] in BODY_METHODS else ())}
        assert codes <= set(operation["responses"]), label
        for code in codes:
            content = operation["responses"][code]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}, label


def test_it_declares_path_ids_as_the_ids_the_path_converter_accepts(tmp_path):
    # core.ids.IdConverter: 1 to the largest bigint; anything else is a 400 before any view.
    schema = _schema(tmp_path)

    path_ids = [
        (label, parameter["schema"])
        for label, operation in _operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    ]
    assert path_ids
    declared = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
    assert all(parameter_schema == declared for _, parameter_schema in path_ids), path_ids


def test_it_documents_a_body_for_every_success_response_but_204(tmp_path):
    # Found while fuzzing: read-all (200) and update-metrics (202) answered a body the schema
    # declared absent, so no client generator or conformance check could see it.
    schema = _schema(tmp_path)

    bodiless = [
        (label, code)
        for label, operation in _operations(schema)
        for code, response in operation["responses"].items()
        if code.startswith("2") and code != "204" and "content" not in response
    ]
    assert bodiless == []
    components = schema["components"]["schemas"]
    assert set(components["NotificationReadAllOutput"]["properties"]) == {"marked_read"}
    assert set(components["TraderUpdateMetricsOutput"]["properties"]) == {"provider_id", "strategies_enqueued"}


def test_it_groups_the_operations_under_tags_a_reader_looks_for(tmp_path):
    schema = _schema(tmp_path)

    tags = {label: operation["tags"] for label, operation in _operations(schema)}
    assert all(len(operation_tags) == 1 and operation_tags != ["api"] for operation_tags in tags.values()), tags
    assert tags["GET /api/copy-trading/top"] == ["Leaderboard"]
    assert tags["GET /api/copy-trading/my-copies"] == ["Follower: copies"]
    assert tags["POST /webhook"] == ["Signals: webhook"]
    assert len(set(map(tuple, tags.values()))) >= 8
