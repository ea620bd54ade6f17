"""The OpenAPI schema names the API-key scheme and every route asks for it. drf-spectacular finds
the scheme through ``api.schema.ApiKeyScheme.target_class``, a dotted path to the authentication
class: if the class moves and the string does not, the scheme silently disappears."""

import json

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from api.schema import ApiKeyScheme
from api.urls import urlpatterns
from api.wire import ApiKeyAuthentication, SeamRoute


def _schema(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_api_key_scheme_matches_the_authentication_class():
    # A target_class naming a module outside INSTALLED_APPS that does not import is dropped
    # without a warning, and the scheme with it.
    assert isinstance(OpenApiAuthenticationExtension.get_match(ApiKeyAuthentication()), ApiKeyScheme)


def test_the_served_schema_has_the_api_key_scheme_and_every_operation_uses_it(client, db):
    schema = _schema(client)
    assert schema["components"]["securitySchemes"] == {
        "workspaceApiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "A workspace API key, seam_...",
        }
    }
    operations = {
        (path, method): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert len(operations) > 50
    for where, operation in operations.items():
        assert operation["security"] == [{"workspaceApiKey": []}], where


def test_the_schema_shows_every_route(client, db):
    routes = {
        f"/api/{p.pattern}"
        for p in urlpatterns
        if isinstance(getattr(p.callback, "view_class", None), type)
        and issubclass(p.callback.view_class, SeamRoute)
    }
    assert set(_schema(client)["paths"]) == routes
