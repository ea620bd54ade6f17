"""What a browser is told to refuse, seen in a browser (Debian's chromium through Playwright):
the Content-Security-Policy blocks inline scripts and style attributes and the watcher every
browser test uses reports them; the API docs page (Swagger UI) works offline, from Latchkey's own files,
without violating the policy; a login locked out by the throttle shows a styled page."""

import re

import pytest
from django.contrib.auth import get_user_model

from tests.test_browser import (  # noqa: F401 (fixture)
    ARTIFACTS,
    DESKTOP,
    PASSWORD,
    assert_no_csp_violations,
    browser,
    check_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_policy_blocks_an_injected_inline_script_and_style_and_the_watcher_reports_both(
    browser,  # noqa: F811 (the fixture imported above)
    live_server,
):
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_server.url}/admin/login/")
    assert_no_csp_violations(page)  # the admin's own login page keeps to the policy
    # What an injected fragment would try: an inline script and a style attribute.
    page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.injected = true';
            document.body.appendChild(script);
            document.body.insertAdjacentHTML('beforeend', '<p id="styled" style="color: red">x</p>');
        }"""
    )
    page.wait_for_function("() => true")  # let the console events arrive
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.injected") is None  # the script did not run
    assert (
        page.evaluate("() => getComputedStyle(document.getElementById('styled')).color") != "rgb(255, 0, 0)"
    )
    blocked = "\n".join(page.csp_violations)
    assert "script-src" in blocked and "style-src" in blocked, blocked
    page.close()


def test_the_api_docs_page_renders_from_latchkeys_own_files_without_violations(
    browser,  # noqa: F811
    live_server,
):
    page = browser.new_page(viewport=DESKTOP)
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server.url}/api/docs/")
    # Swagger UI has fetched the schema and drawn it: an operation of Seam's API is listed.
    page.get_by_text("/access_codes/create", exact=False).first.wait_for(timeout=30_000)
    page.get_by_role("heading", name=re.compile("Latchkey API")).first.wait_for()
    off_site = [url for url in requested if not url.startswith((live_server.url, "blob:", "data:"))]
    assert not off_site, f"the docs page requested other sites: {off_site}"
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in requested), requested
    # Swagger UI's own markup is not Latchkey's to fix, so no axe-core check here; the policy is.
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=True)
    assert_no_csp_violations(page)
    page.close()


def test_a_locked_out_login_shows_the_lockout_page_within_the_policy(
    browser,  # noqa: F811
    live_server,
    settings,
):
    settings.AXES_FAILURE_LIMIT = 3
    get_user_model().objects.create_user("maria", password=PASSWORD, is_staff=True)
    page = browser.new_page(viewport=DESKTOP)
    for _ in range(3):
        page.goto(f"{live_server.url}/admin/login/")
        page.get_by_label("Username").fill("maria")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Too many failed logins").wait_for()
    # Even the right password now answers the lockout page.
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Too many failed logins").wait_for()
    assert "15 minutes" in page.locator("#content-main").inner_text()
    check_page(page, "login-locked-out")
    page.close()
