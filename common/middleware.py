"""Requests refused before any view sees them."""

from django.http import HttpResponseBadRequest

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RefuseNulMiddleware:
    """400 for a NUL character in the path, the query string or a submitted form.

    PostgreSQL stores no NUL in text and refuses it even in a filter, so ``?name=%00`` on an
    admin list or a NUL in a note would otherwise reach the database and answer 500. No field
    of Latchkey's takes one, so the whole request is refused, naming the reason. (Raw bodies,
    such as webhooks', are checked where they are read.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "\x00" in request.path
            or _has_nul(request.GET)
            or (request.method == "POST" and request.content_type in _FORM_TYPES and _has_nul(request.POST))
        ):
            return HttpResponseBadRequest(
                "The request contains a NUL character (%00), which no field accepts.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def _has_nul(data) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in data.lists())
