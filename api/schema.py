"""How the OpenAPI schema (drf-spectacular) reads a ``SeamRoute``: its ``params`` are the query
string of a GET or DELETE and the JSON body otherwise; every answer is Seam's envelope."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

QUERY_METHODS = ("GET", "DELETE")  # the SDK puts their parameters in the query string


class SeamRouteSchema(AutoSchema):
    def _reads_query(self) -> bool:
        return self.method.upper() in QUERY_METHODS

    def get_override_parameters(self):
        reads = self._reads_query() and self.view.params().fields  # a route without parameters has none
        return [self.view.params] if reads else []

    def get_request_serializer(self):
        return None if self._reads_query() else self.view.params

    def get_response_serializers(self):
        errors = "Errors: {error: {type, message, validation_errors?, request_id}, ok: false}."
        return {
            200: OpenApiResponse(OpenApiTypes.OBJECT, description=f"{self.view.answers}, and ok: true."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description=f"invalid_input. {errors}"),
            401: OpenApiResponse(OpenApiTypes.OBJECT, description="unauthorized"),
            404: OpenApiResponse(
                OpenApiTypes.OBJECT, description="an id not found in the caller's workspace"
            ),
        }

    def get_serializer_name(self, serializer, direction):
        # Every route's parameters class is called ``params``; name it after the route instead.
        if serializer.__class__.__name__ != "params":  # a nested parameter object keeps its own name
            return serializer.__class__.__name__
        route = self.path.removeprefix("/api/").replace("/", "_")
        return "".join(part.capitalize() for part in route.split("_")) + "Params"

    def get_tags(self):
        return [self.path.removeprefix("/api/").split("/")[0]]


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.wire.ApiKeyAuthentication"
    name = "workspaceApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A workspace API key, seam_..."}
