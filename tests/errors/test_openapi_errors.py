"""Generated from the OpenAPI schema: every operation documents its errors with the one Error schema,
and every integer an operation takes is bounded to what a 64-bit column holds."""

from __future__ import annotations

import pytest
from django.test import Client
from ninja import Router

from config.api import PartnerAPI, PartnerKey, api, error_statuses
from config.bounds import INT64_MAX

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema():
    return api.get_openapi_schema(path_prefix="/api/v1/")


def _operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_error_component_is_the_shape_the_api_answers(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "message", "fields"}


def test_every_operation_documents_its_errors(schema):
    operations = list(_operations(schema))
    assert len(operations) >= 15
    for path, method, operation in operations:
        responses = operation["responses"]
        expected = {400, 404, 422, 503}
        if operation.get("security"):
            expected |= {401, 403}
        if method == "post":
            expected |= {409, 413, 429}
        missing = expected - set(responses)
        assert not missing, (method, path, missing)
        for status in expected:
            content = responses[status]["content"]["application/json"]["schema"]
            assert content == {"$ref": ERROR_REF}, (method, path, status)
        assert "Retry-After" in responses[503]["headers"]


def test_a_new_router_is_covered_without_declaring_anything():
    """Operations added later get the error answers from the same mechanism."""
    other = PartnerAPI(title="scratch", urls_namespace="scratch-api")
    router = Router()

    @router.post("/things", auth=PartnerKey("things:write"))
    def make_thing(request, payload: dict):
        return {}

    @router.get("/things")
    def list_things(request):
        return []

    other.add_router("/", router)
    paths = other.get_openapi_schema(path_prefix="/scratch/")["paths"]["/scratch/things"]
    assert set(paths["post"]["responses"]) >= {400, 401, 403, 404, 409, 413, 422, 429, 503}
    assert set(paths["get"]["responses"]) == {200, 400, 404, 422, 503}
    assert error_statuses("get", {}) == [400, 404, 422, 503]


def _integers(node, where):
    if isinstance(node, dict):
        if node.get("type") == "integer":
            yield where, node
        for key, value in node.items():
            yield from _integers(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _integers(value, f"{where}[{index}]")


def test_every_integer_an_operation_takes_is_bounded(schema):
    """Parameters and request bodies: an unbounded integer reaches the database as an overflow (a 500)."""
    inputs = []
    for path, method, operation in _operations(schema):
        inputs += list(_integers(operation.get("parameters", []), f"{method} {path} parameters"))
        inputs += list(_integers(operation.get("requestBody", {}), f"{method} {path} body"))
    referenced = {
        ref.rsplit("/", 1)[-1]
        for _, _, operation in _operations(schema)
        for ref in _refs(operation.get("requestBody", {}))
    }
    for name in referenced:
        inputs += list(_integers(schema["components"]["schemas"][name], f"schema {name}"))
    assert inputs, "the walk found the integer inputs"
    unbounded = [where for where, node in inputs if node.get("maximum", INT64_MAX + 1) > INT64_MAX]
    assert unbounded == []


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_the_served_schema_carries_the_errors():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/holds"]["post"]
    assert operation["responses"]["413"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
