"""Where the apps above ``codes`` add to its pages without ``codes`` importing them (the floors
point down): a section on an access code's page, and fields on the new-code page. An app
registers in its ``AppConfig.ready``; ``codes`` only calls what is registered."""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.http import HttpRequest

from codes.models import AccessCode

# Each gives the HTML of a section shown below the access code's page, or "" to show nothing.
CODE_PAGE_SECTIONS: list[Callable[[HttpRequest, AccessCode], str]] = []


@dataclass(frozen=True)
class CreateFormExtension:
    """Fields added to the new-code page.

    ``fields(property)``: the form fields, by name. ``check(cleaned_data)``: raises a
    ValidationError naming those fields, before anything is created. ``after_create(codes,
    cleaned_data, actor)``: runs in the transaction that created the codes."""

    fields: Callable[..., dict[str, forms.Field]]
    check: Callable[[dict], None]
    after_create: Callable[[list[AccessCode], dict, object], None]


CREATE_FORM_EXTENSIONS: list[CreateFormExtension] = []


def code_page_sections(request: HttpRequest, access_code: AccessCode) -> list[str]:
    return [html for section in CODE_PAGE_SECTIONS if (html := section(request, access_code))]
