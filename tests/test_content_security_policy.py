"""The Content-Security-Policy (django-csp): on every response, strict for scripts and styles;
and nothing in Latchkey's templates or Python-built HTML that it would block (an inline style
attribute, an inline script or event handler without the response's nonce). The browser tests
watch for violations on the pages they visit; this keeps the source free of them too."""

import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

LATCHKEY_PACKAGES = ["config", "api", "notifications", "webhooks", "calendars", "codes", "devices", "common"]


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api/devices/list", "/webhooks/seam/x/"])
def test_every_response_carries_the_strict_policy(client, path):
    policy = directives(client.get(path))
    assert policy["default-src"] == ["'self'"]
    for kind in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[kind] and "'unsafe-eval'" not in policy[kind]
        assert all(source == "'self'" or source.startswith("'nonce-") for source in policy[kind])
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def test_a_page_that_needs_inline_style_gets_a_fresh_nonce_each_time(admin_client):
    first, second = (admin_client.get("/admin/latchkey/timeline/") for _ in range(2))
    nonces = [re.search(r'<style nonce="([^"]+)">', r.content.decode()).group(1) for r in (first, second)]
    assert nonces[0] != nonces[1]
    for response, nonce in zip((first, second), nonces, strict=True):
        assert f"'nonce-{nonce}'" in directives(response)["style-src"]


def _latchkey_sources():
    base = Path(settings.BASE_DIR)
    yield from (base / "templates").rglob("*.html")
    for package in LATCHKEY_PACKAGES:
        yield from (base / package).rglob("*.html")
        yield from (p for p in (base / package).rglob("*.py") if "migrations" not in p.parts)


INLINE = [
    (re.compile(r"""\sstyle\s*=\s*["']"""), "a style attribute"),
    (
        re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)(?![^>]*type=\"application/json\")[^>]*>"),
        "an inline script",
    ),
    (re.compile(r"<style(?![^>]*\bnonce=)[^>]*>"), "a style element without the nonce"),
    (re.compile(r"""\son[a-z]+\s*=\s*["']"""), "an inline event handler"),
    (re.compile(r"""["']javascript:"""), "a javascript: URL"),
]


def test_no_template_or_python_built_html_has_what_the_policy_blocks():
    found = []
    for path in _latchkey_sources():
        text = path.read_text(errors="replace")
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(settings.BASE_DIR)}:{line}: {what}")
    assert not found, "\n".join(found)
