"""The OpenAPI document types every answer: each 2xx body of each operation has a real schema
(a 204 has none), errors are problem+json, and amounts are decimal strings."""
from __future__ import annotations

import pytest

JSON = ("application/json", "application/problem+json")


@pytest.fixture(scope="module")
def openapi(tmp_path_factory):
    from gateway import config as gateway_config
    from gateway.app import create_app
    from gateway.clients import Clients
    from hubkit import settings as hub_settings

    settings = hub_settings.load(gateway_config.Settings, {"HUB_VAR_DIR": str(tmp_path_factory.mktemp("openapi"))})
    clients = Clients(order=None, inventory=None, procurement=None, customer=None, accounting=None, ledger=None,
                      shops={}, channels=[])
    return create_app(settings, clients).openapi()


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield f"{method.upper()} {path}", op


def resolve(doc, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def typed(doc, schema: dict) -> bool:
    """A schema that says what the body holds: not {}, not a bare object, all the way down its items."""
    schema = resolve(doc, schema)
    if "anyOf" in schema or "oneOf" in schema:
        return all(typed(doc, s) for s in schema.get("anyOf", schema.get("oneOf")))
    if schema.get("type") == "array":
        return typed(doc, schema.get("items", {}))
    if schema.get("type") == "object":
        values = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(values, dict) and typed(doc, values))
    return "type" in schema


def untyped_answers(doc) -> list[str]:
    out = []
    for name, op in operations(doc):
        answers = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        if not answers:
            out.append(f"{name}: no 2xx answer")
        for code, answer in answers.items():
            content = answer.get("content")
            if code == "204":
                if content:
                    out.append(f"{name} {code}: a 204 has no body")
                continue
            if not content:
                out.append(f"{name} {code}: no content declared")
                continue
            for media, body in content.items():
                if media in JSON and not typed(doc, body.get("schema", {})):
                    out.append(f"{name} {code} {media}: untyped schema {body.get('schema')}")
    return out


def test_every_2xx_answer_has_a_typed_schema(openapi):
    assert untyped_answers(openapi) == []


def test_the_check_sees_an_untyped_answer(openapi):
    ok = {"responses": {"200": {"content": {"application/json": {"schema": {"type": "string"}}}}}}
    bad = [{"200": {"content": {"application/json": {"schema": {}}}}},
           {"201": {"description": "no content"}},
           {"200": {"content": {"application/json": {"schema": {"type": "object",
                                                                "additionalProperties": True}}}}},
           {"200": {"content": {"application/json": {"schema": {"type": "array", "items": {}}}}}}]
    for responses in bad:
        doc = {"paths": {"/x": {"get": ok, "post": {"responses": responses}}}, "components": {"schemas": {}}}
        found = untyped_answers(doc)
        assert len(found) == 1 and found[0].startswith("POST /x "), found


def test_errors_are_problems(openapi):
    problem = openapi["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])
    for name, op in operations(openapi):
        for code in ("4XX", "5XX"):
            content = op["responses"].get(code, {}).get("content", {})
            assert list(content) == ["application/problem+json"], (name, code)
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
        assert "422" not in op["responses"], f"{name}: FastAPI's own 422 is not what the gateway answers"


def test_downloads_declare_their_media_type(openapi):
    xlsx = openapi["paths"]["/accounting/vouchers.xlsx"]["get"]["responses"]["200"]["content"]
    assert list(xlsx) == ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]


def test_both_answers_of_an_upsert_are_typed(openapi):
    for path in ("/orders", "/skus", "/warehouses", "/suppliers", "/warehouses/{code}/bins"):
        responses = openapi["paths"][path]["post"]["responses"]
        assert responses["200"]["content"] == responses["201"]["content"], path


def test_amounts_are_decimal_strings(openapi):
    order = openapi["components"]["schemas"]["Order"]["properties"]
    assert order["total"]["type"] == "string"
    line = openapi["components"]["schemas"]["OrderLine"]["properties"]
    assert (line["unit_price"]["type"], line["amount"]["type"]) == ("string", "string")
