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
        failures = {code: r for code, r in op["responses"].items() if not code.startswith("2")}
        assert "4XX" not in failures and "5XX" not in failures, f"{name}: each status, not a range"
        assert {"422", "500", "502", "503", "504"} <= set(failures), name
        for code, answer in failures.items():
            assert list(answer["content"]) == ["application/problem+json"], (name, code)
            assert answer["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
        assert "Retry-After" in failures["503"]["headers"], name
        if op["responses"]["422"]["description"].startswith("Validation Error"):
            raise AssertionError(f"{name}: FastAPI's own 422 is not what the gateway answers")


def test_the_api_key_is_a_security_scheme_on_every_operation_but_the_signed_webhooks(openapi):
    scheme = openapi["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    for name, op in operations(openapi):
        if " /webhooks/" in name:
            assert op["security"] == [] and "403" not in op["responses"], name
        else:
            assert op["security"] == [{"ApiKey": []}], name
            assert {"401", "403"} <= set(op["responses"]), name


def test_posts_document_the_idempotency_key_header(openapi):
    for name, op in operations(openapi):
        headers = [p for p in op.get("parameters", []) if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        if name.startswith("POST ") and " /webhooks/" not in name and " /imports/" not in name:
            assert len(headers) == 1 and headers[0]["schema"]["maxLength"] == 128, name
            assert {"400", "409", "413"} <= set(op["responses"]), name
        else:  # webhooks are signed; an import's key is its file's content hash
            assert headers == [], name


def _integers(doc, schema: dict, where: str, seen=()):
    """(where, schema) of every integer a request schema holds, through $refs, lists and unions."""
    ref = schema.get("$ref")
    if ref in seen:
        return
    schema = resolve(doc, schema)
    if schema.get("type") == "integer":
        yield where, schema
    for i, option in enumerate(schema.get("anyOf", []) + schema.get("oneOf", [])):
        yield from _integers(doc, option, f"{where}|{i}", (*seen, ref))
    if "items" in schema:
        yield from _integers(doc, schema["items"], f"{where}[]", (*seen, ref))
    for key, value in schema.get("properties", {}).items():
        yield from _integers(doc, value, f"{where}.{key}", (*seen, ref))


def test_every_integer_a_request_carries_is_bounded_to_fit_its_protobuf_field(openapi):
    """An integer beyond the field it travels in (int32 for days, counts and line numbers) would fail
    when the gateway builds the gRPC request: every one is bounded in the schema, so it is a 422."""
    loose = []
    for name, op in operations(openapi):
        for param in op.get("parameters", []):
            for where, schema in _integers(openapi, param["schema"], f"{name} {param['name']}"):
                if schema.get("maximum", schema.get("exclusiveMaximum")) is None or "minimum" not in schema \
                        and "exclusiveMinimum" not in schema:
                    loose.append(where)
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        for where, schema in _integers(openapi, body or {}, f"{name} body"):
            if schema.get("maximum", schema.get("exclusiveMaximum")) is None:
                loose.append(where)
    assert loose == []
    days = next(p for p in openapi["paths"]["/stock/reports/slow-movers"]["get"]["parameters"] if p["name"] == "days")
    assert days["schema"]["maximum"] < 2**31


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


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _rows_of_models(doc, schema: dict) -> bool:
    """An array of objects with properties (a model, or a union of models): rows to export."""
    schema = resolve(doc, schema)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return any(_rows_of_models(doc, s) for s in options if s.get("type") != "null")
    if schema.get("type") != "array":
        return False
    item = resolve(doc, schema.get("items", {}))
    members = item.get("anyOf") or item.get("oneOf") or [item]
    return all(bool(resolve(doc, m).get("properties")) for m in members)


def lists_and_reports(doc) -> list[str]:
    """The GET operations whose JSON answer holds a list of rows."""
    out = []
    for name, op in operations(doc):
        body = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema")
        if not name.startswith("GET ") or body is None:
            continue
        answer = resolve(doc, body)
        if any(_rows_of_models(doc, p) for p in answer.get("properties", {}).values()):
            out.append(name)
    return out


def missing_exports(doc) -> list[str]:
    out = []
    for name in lists_and_reports(doc):
        method, path = name.split(" ", 1)
        op = doc["paths"][path][method.lower()]
        param = [p for p in op.get("parameters", []) if p["name"] == "format" and p["in"] == "query"]
        if not param or {"json", "csv", "xlsx"} != set(param[0]["schema"].get("enum", [])):
            out.append(f"{name}: no format=json|csv|xlsx parameter")
        if not {"application/json", "text/csv", XLSX} <= set(op["responses"]["200"]["content"]):
            out.append(f"{name}: CSV and xlsx are not among its answers")
        if "406" not in op["responses"]:
            out.append(f"{name}: no 406")
    return out


def test_every_list_and_report_offers_csv_and_xlsx(openapi):
    """Walks the document itself, so that a new list or report cannot forget the export."""
    found = lists_and_reports(openapi)
    assert {"GET /orders", "GET /stock/reports/on-hand", "GET /accounting/trial-balance",
            "GET /stock/reports/value-at", "GET /purchasing/stock-alerts"} <= set(found)
    assert len(found) >= 40
    assert missing_exports(openapi) == []
    offering = [name for name, op in operations(openapi) if any(
        p["name"] == "format" and "csv" in p["schema"].get("enum", []) for p in op.get("parameters", []))]
    assert sorted(offering) == sorted(found)  # and nothing else: no write, no single answer without rows


def test_the_export_check_sees_a_list_without_it(openapi):
    row = {"type": "object", "properties": {"sku": {"type": "string"}}}
    answer = {"type": "object", "properties": {"rows": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}}}}
    doc = {"paths": {"/report": {"get": {"responses": {"200": {"content": {"application/json": {"schema": answer}}}}}}},
           "components": {"schemas": {"Row": row}}}
    assert missing_exports(doc) == ["GET /report: no format=json|csv|xlsx parameter",
                                    "GET /report: CSV and xlsx are not among its answers", "GET /report: no 406"]
