"""Seam's access-code API as it looks on the wire: the one envelope, error handler,
authentication, parameter reading and pagination every Latchkey API route shares.

An integration written against Seam's official SDKs must run against Latchkey unchanged, so
this module copies Seam's conventions exactly:

- routes are RPC-style paths (``/access_codes/create``); each accepts the HTTP method the SDK
  sends (GET or DELETE with a query string; POST, PUT or PATCH with a JSON body) and POST with a
  JSON body, as older SDKs and curl users send;
- success bodies carry ``"ok": true``; errors are ``{"error": {"type", "message",
  "validation_errors"?, "request_id"}, "ok": false}``; every response has a ``seam-request-id``
  header;
- keys are ``Authorization: Bearer seam_...`` workspace API keys.

It lives in ``api``, the top floor: the API's modules import ``codes``, ``devices`` and
``webhooks``, never the other way round.
"""

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson
from django.core import signing
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, ValidationError
from django.db.models import Q
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.deviations import refused_parameter
from api.keys import api_key_for
from api.schema import QUERY_METHODS, SeamRouteSchema
from common.times import iso
from devices.models import ApiKey, Workspace
from devices.rules import Conflict

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "seam-request-id"
IGNORED_QUERY_KEYS = ("_strict",)  # the SDK marks strict query parsing; Latchkey is always strict
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


# --- Errors ---------------------------------------------------------------------------------


class SeamError(exceptions.APIException):
    """An error answered in Seam's shape: ``error_type`` is Seam's ``error.type``."""

    def __init__(self, status: int, error_type: str, message: str, validation_errors: dict | None = None):
        super().__init__(message)
        self.status_code = status
        self.error_type = error_type
        self.message = message
        self.validation_errors = validation_errors


def not_found(what: str) -> SeamError:
    """404 for a missing object, or one in another workspace: the two must look the same."""
    return SeamError(404, f"{what}_not_found", f"{what.replace('_', ' ').capitalize()} not found.")


def invalid_input(by_field: dict[str, list[str]]) -> SeamError:
    """400 naming every field that is wrong, as Seam's ``validation_errors`` (zod's format)."""
    return SeamError(
        400,
        "invalid_input",
        "; ".join(f"{field}: {' '.join(messages)}" for field, messages in by_field.items()),
        _validation_errors(by_field),
    )


def _validation_errors(by_field: dict[str, list[str]]) -> dict:
    errors: dict = {"_errors": []}
    for field, messages in by_field.items():
        if field in ("__all__", "non_field_errors"):
            errors["_errors"] += messages
        else:
            errors[field] = {"_errors": list(messages)}
    return errors


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [f"{key}: {m}" for key, value in detail.items() for m in _flatten(value)]
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item)]
    return [str(detail)]


def error_body(status: int, error_type: str, message: str, request_id: str, validation_errors=None) -> dict:
    error = {"type": error_type, "message": message, "request_id": request_id}
    if validation_errors is not None:
        error["validation_errors"] = validation_errors
    return {"error": error, "ok": False}


def _as_seam_error(exc: Exception) -> SeamError | None:
    """Every error a route can meet, in Seam's vocabulary; None for a bug (answered 500)."""
    if isinstance(exc, SeamError):
        return exc
    if isinstance(exc, RequestDataTooBig):
        return SeamError(413, "payload_too_large", "The request body is too large.")
    if isinstance(exc, SuspiciousOperation):  # e.g. too many query parameters
        return SeamError(400, "invalid_input", f"The request was refused: {exc}")
    if isinstance(exc, Conflict):
        return SeamError(409, "duplicate_access_code", _message(exc), _validation_errors(exc.message_dict))
    if isinstance(exc, ValidationError):
        by_field = exc.message_dict if hasattr(exc, "error_dict") else {"_errors": exc.messages}
        return invalid_input(by_field)
    if isinstance(exc, serializers.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"_errors": exc.detail}
        return invalid_input({field: _flatten(value) for field, value in detail.items()})
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return SeamError(401, "unauthorized", str(exc.detail))
    if isinstance(exc, exceptions.MethodNotAllowed):
        return SeamError(405, "method_not_allowed", str(exc.detail))
    if isinstance(exc, exceptions.ParseError):
        return SeamError(400, "invalid_input", f"The body is not valid JSON: {exc.detail}")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return SeamError(
            415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json)."
        )
    if isinstance(exc, exceptions.APIException):
        return SeamError(exc.status_code, exc.default_code, str(exc.detail))
    return None


def _message(exc: ValidationError) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())


# --- Authentication --------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiClient:
    """Who is calling: a workspace, through one of its API keys. DRF's ``request.user``."""

    workspace: Workspace
    api_key: ApiKey
    is_authenticated: bool = True


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer seam_...``; a key sees its own workspace only."""

    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1").split()
        if not header:
            return None  # IsAuthenticated then answers 401 unauthorized
        if len(header) != 2 or header[0].lower() != "bearer":
            raise exceptions.AuthenticationFailed("Send the API key as 'Authorization: Bearer seam_...'.")
        api_key = api_key_for(header[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is unknown or has been revoked.")
        return ApiClient(workspace=api_key.workspace, api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        return "Bearer"  # makes DRF answer 401, not 403


# --- Parameters ------------------------------------------------------------------------------


class WireString(serializers.CharField):
    """A JSON string and nothing else: a number is refused rather than turned into one, so the PIN
    0123 can never arrive as 123."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("must be a string.")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.BOOL)
class WireBoolean(serializers.Field):
    """true or false. In a query string the words ``true``/``false``; in JSON the booleans."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            raise serializers.ValidationError("must be true or false.")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.DATETIME)
class WireDateTime(serializers.Field):
    """An ISO 8601 date and time. The offset is checked by the services, which say what to add."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("must be an ISO 8601 date and time string.")
        try:
            value = datetime.fromisoformat(data)
            if value.tzinfo is not None:
                value.astimezone(UTC)  # a year-1 or year-9999 time may not convert: refuse it here
        except ValueError:
            raise serializers.ValidationError(
                f"'{data[:40]}' is not an ISO 8601 date and time (for example 2026-12-01T15:00:00Z)."
            ) from None
        except OverflowError:
            raise serializers.ValidationError("is too far in the past or future.") from None
        return value

    def to_representation(self, value):
        return iso(value)


def _json_type_problem(field, value) -> str | None:
    """DRF turns ``false`` or ``42`` into a UUID and ``"6"`` or ``6.0`` into 6; on the wire a UUID
    is a JSON string and an integer a JSON integer, nothing else."""
    if value is None:
        return None
    if isinstance(field, serializers.UUIDField) and not isinstance(value, str):
        return "must be a UUID string."
    if isinstance(field, serializers.IntegerField) and (
        isinstance(value, bool) or not isinstance(value, int)
    ):
        return "must be a whole number."
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for item in value:
            problem = _json_type_problem(field.child, item)
            if problem:
                return f"each item {problem}"
    return None


class Params(serializers.Serializer):
    """A route's parameters. Unknown keys are refused by name: a misspelt ``ends_at`` must not be
    silently ignored and leave a code open forever; Seam's parameters Latchkey deliberately does
    not take (api/deviations.py) say why."""

    @property
    def fields(self):
        """The route's fields, bound once per class to a serializer holding no data, rather than
        deep-copied for each request as DRF does (a fifth of a one-code read's time). Fields keep
        no state of their own while validating, and no route gives its parameters a context."""
        bound = type(self).__dict__.get("_bound_fields")
        if bound is None:
            bound = serializers.Serializer.fields.func(type(self)())
            type(self)._bound_fields = bound
        return bound

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object."]})
        errors = {
            key: [refused_parameter(key) or "is not a parameter of this route."]
            for key in sorted(set(data) - set(self.fields))
        }
        wrong_type = {}
        for name, field in self.fields.items():
            problem = _json_type_problem(field, data.get(name))
            if problem:
                wrong_type[name] = [problem]
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors.update(exc.detail)
        errors.update(wrong_type)
        if errors:  # every problem in one answer, so a caller fixes them in one round
            raise serializers.ValidationError(errors)
        return values


def read_query(params_class: type[Params], query) -> dict:
    """A query string as the SDK writes it, turned into the JSON the same route takes as a body:
    arrays as repeated keys (``ids=a&ids=b``, or ``ids[]=a``), booleans as true/false. A single
    value given more than once is refused: which one the caller meant is a guess."""
    fields = params_class._declared_fields  # only their kinds are read: no bound copies needed
    data: dict = {}
    repeated = [
        name
        for name in (key.removesuffix("[]") for key in query if len(query.getlist(key)) > 1)
        if name in fields and not isinstance(fields[name], serializers.ListField)
    ]
    if repeated:
        raise invalid_input({name: ["takes one value, but was given more than once."] for name in repeated})
    for key in query:
        if key in IGNORED_QUERY_KEYS:
            continue
        name = key.removesuffix("[]")
        field = fields.get(name)
        values = query.getlist(key)
        if isinstance(field, serializers.ListField):
            # The SDK writes an empty list as one empty value (``ids=``).
            data.setdefault(name, []).extend(_query_integer(field.child, v) for v in values if v != "")
            continue
        value = values[0]
        if isinstance(field, WireBoolean) and value in ("true", "false"):
            value = value == "true"
        data[name] = _query_integer(field, value)
    return data


def _query_integer(field, value):
    """A query string's digits, for an integer parameter, are the integer; anything else stays a
    string and is refused by name."""
    if isinstance(field, serializers.IntegerField) and re.fullmatch(r"-?[0-9]{1,18}", value):
        return int(value)
    return value


# --- Pagination ------------------------------------------------------------------------------

_CURSOR_SALT = "latchkey.api.page"


@dataclass(frozen=True)
class Page:
    items: list
    next_cursor: str | None


def paginate(queryset, *, cursor: str | None, limit: int | None, key: str, item=None, rows=None) -> Page:
    """Keyset pagination, newest first, on (``created_at``, primary key): stable while rows are
    added, and each page costs the same however deep. The cursor is signed, so it is opaque and a
    tampered one is refused rather than misread. ``item`` turns a row into a page's item (for a
    ``values_list`` queryset); the items must have ``created_at`` and ``pk``. ``rows``, if given,
    reads the page instead of ``queryset``: ``rows(limit, after)`` returns what ``page_query``'s
    queryset would (a read compiled once, ``common.compiled``)."""
    # Seam's documented defaults run to tens of thousands; a larger limit gets a full page and
    # a cursor to the next, rather than a refusal.
    limit = min(limit or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    after = None
    if cursor:
        try:
            position = signing.loads(cursor, salt=_CURSOR_SALT)
            after = (datetime.fromisoformat(position["c"]), uuid.UUID(position["k"]))
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise invalid_input({"page_cursor": ["is not a cursor this API gave out."]}) from None
    if rows is None:
        rows = list(page_query(queryset, key=key, limit=limit, after=after))
    else:
        rows = rows(limit, after)
    if item is not None:
        rows = [item(row) for row in rows]
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = signing.dumps({"c": last.created_at.isoformat(), "k": str(last.pk)}, salt=_CURSOR_SALT)
    return Page(items, next_cursor)


def page_query(queryset, *, key: str, limit: int, after: tuple | None):
    """``queryset``'s page after ``after`` (``created_at``, ``key``), newest first, and one more
    row to tell whether another page follows."""
    queryset = queryset.order_by("-created_at", f"-{key}")
    if after is not None:
        queryset = queryset.filter(
            Q(created_at__lt=after[0]) | Q(created_at=after[0], **{f"{key}__lt": after[1]})
        )
    return queryset[: limit + 1]


def pagination_body(request, page: Page) -> dict:
    next_url = None
    if page.next_cursor:
        # The same request as a GET, at the next page.
        if request.method in QUERY_METHODS:
            query = {k: request.query_params.getlist(k) for k in request.query_params}
        else:
            query = {k: _query_value(v) for k, v in request.data_params.items()}
        query = {k: v for k, v in query.items() if k not in IGNORED_QUERY_KEYS}
        query["page_cursor"] = page.next_cursor
        next_url = request.build_absolute_uri(request.path) + "?" + urlencode(query, doseq=True)
    return {
        "has_next_page": page.next_cursor is not None,
        "next_page_cursor": page.next_cursor,
        "next_page_url": next_url,
    }


def _query_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_query_value(v) for v in value]
    return value


class PageParams(Params):
    limit = serializers.IntegerField(required=False, min_value=1)  # capped at MAX_PAGE_SIZE
    page_cursor = WireString(required=False, allow_null=True)


# --- Routes ----------------------------------------------------------------------------------


# What orjson would write differently from DRF's encoder it hands back, unwritten (no default:
# TypeError), so that DRF's encoder writes the whole body instead.
_ORJSON_PASSTHROUGH = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class SeamJSONRenderer(JSONRenderer):
    """DRF's JSON, byte for byte (compact, UTF-8, U+2028 and U+2029 escaped), written by orjson:
    a page of 100 codes spent a tenth of its time in the standard library's encoder. A client
    asking for indented JSON (``Accept: application/json; indent=2``) gets DRF's own."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if renderer_context is not None and self.get_indent(accepted_media_type or "", renderer_context):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, option=_ORJSON_PASSTHROUGH)
        except TypeError:  # a value orjson would write its own way (a datetime): DRF's encoder
            return super().render(data, accepted_media_type, renderer_context)
        return body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")


class SeamJSONParser(JSONParser):
    """JSON as Seam reads it, strictly: a key given twice is refused (which PIN was meant is a
    guess), and a body nested too deep to read is bad input, not a server error."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKey as exc:
            raise exceptions.ParseError(f"the key '{exc}' is given more than once.") from None
        except RecursionError:
            raise exceptions.ParseError("the body is nested too deeply.") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise exceptions.ParseError(str(exc)) from None


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs):
    body = {}
    for key, value in pairs:
        if key in body:
            raise _DuplicateKey(key[:100])
        body[key] = value
    return body


class SeamRoute(APIView):
    """One API route. A subclass names the method the SDK sends (``sdk_method``), its
    parameters (``params``) and implements ``answer(params)``, returning the body without
    ``ok``. POST with a JSON body is accepted on every route."""

    sdk_method = "POST"
    also_methods: tuple[str, ...] = ()  # other methods Seam's document lists for the route
    params: type[Params] = Params
    answers = "{}"  # what a success carries besides ok, for the schema
    schema = SeamRouteSchema()
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [SeamJSONRenderer]
    parser_classes = [SeamJSONParser]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.http_method_names = sorted(
            {"post", cls.sdk_method.lower(), *(m.lower() for m in cls.also_methods)}
        )

    @property
    def workspace(self) -> Workspace:
        return self.request.user.workspace

    def answer(self, params: dict) -> dict:
        raise NotImplementedError

    def _run(self, request):
        if request.method in QUERY_METHODS:
            raw = read_query(self.params, request.query_params)
        else:
            raw = request.data if request.body else {}
        request.data_params = raw if isinstance(raw, dict) else {}
        checked = self.params(data=raw)
        checked.is_valid(raise_exception=True)
        return Response({**self.answer(checked.validated_data), "ok": True})

    get = post = put = patch = delete = _run

    def initial(self, request, *args, **kwargs):
        request.request_id = f"req_{uuid.uuid4().hex}"
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        request_id = getattr(self.request, "request_id", None) or f"req_{uuid.uuid4().hex}"
        error = _as_seam_error(exc)
        if error is None:  # a bug: logged in full, answered without internals
            logger.exception("API route %s failed (request %s)", self.request.path, request_id)
            error = SeamError(500, "internal_server_error", "Something went wrong on our side; try again.")
        response = Response(
            error_body(
                error.status_code, error.error_type, error.message, request_id, error.validation_errors
            ),
            status=error.status_code,
        )
        if error.status_code == 401:
            response["WWW-Authenticate"] = "Bearer"
        return response

    # DRF keeps the response on the view (``self.response``), the view in the response's renderer
    # context, and once rendered the response itself there too: reference cycles, which kept each
    # whole answer (a page of 100 codes is thousands of objects) until Python's cycle collector
    # walked it. Both broken below, an answer is freed as soon as it is sent.
    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        self.response = None
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response[REQUEST_ID_HEADER] = getattr(request, "request_id", None) or f"req_{uuid.uuid4().hex}"
        response.add_post_render_callback(_forget_renderer_context)
        return response


def _forget_renderer_context(response) -> None:
    response.renderer_context = None  # read only while rendering


@csrf_exempt  # whatever the method: an API client has no CSRF token, and must get JSON back
def route_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any path under /api/ that is no route: Seam's 404 shape, not Django's HTML page."""
    request_id = f"req_{uuid.uuid4().hex}"
    response = JsonResponse(
        error_body(404, "route_not_found", f"No API route at {request.path}.", request_id), status=404
    )
    response[REQUEST_ID_HEADER] = request_id
    return response
