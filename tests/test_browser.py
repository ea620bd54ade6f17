"""The manager's day in a real browser (Debian's chromium, driven by Playwright): create a code
for every door of a property, see it scheduled, switch a fault on a sandbox lock, find the code
in the review queue with its remedy, resolve it. Every page visited is checked with axe-core
(no serious or critical violations) and saved as a screenshot in test-artifacts/browser/; the
dashboard and the queue are also checked at phone width."""

import io
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.utils import timezone

from codes import scheduler
from codes.models import AccessCode, StaffAction
from codes.pages import Readiness, readiness
from devices.models import Device, Membership, Property
from devices.selectors import PROPERTY_MANAGER
from devices.services import sandbox_fleet_create, workspace_get_or_create

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "browser"
PASSWORD = "a long and unguessable pass phrase"  # noqa: S105
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


# Runs in every document before its own scripts (through the DevTools protocol, which the page's
# Content-Security-Policy does not govern): axe-core for check_page, and a listener that reports
# each CSP violation to the console, where the page's watcher collects it.
_WATCH_CSP = """
document.addEventListener('securitypolicyviolation', (e) => {
  const id = e.target && e.target.id ? ` #${e.target.id}` : '';
  console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || 'inline'}${id}`
    + ` at ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
});
"""
# axe-core inserts <style> elements of its own while it runs, which the policy rightly blocks;
# check_page sets off this marker after axe and forgets every violation up to it.
_AXE_DONE = "lk-axe-done"


class CspWatchedBrowser:
    """Chromium whose pages carry axe-core and collect Content-Security-Policy violations, both
    the page's securitypolicyviolation events and chromium's own console reports of them."""

    def __init__(self, chromium):
        self.chromium = chromium

    def new_page(self, **options):
        page = self.chromium.new_page(**options)
        page.csp_violations = []
        page.add_init_script(script=AXE.read_text() + _WATCH_CSP)

        def on_console(message):
            text = message.text
            if "CSP violation" in text or "Content Security Policy" in text:
                page.csp_violations.append(f"{page.url}: {text}")

        page.on("console", on_console)
        return page

    def close(self):
        self.chromium.close()


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield CspWatchedBrowser(chromium)
        chromium.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def assert_no_csp_violations(page) -> None:
    assert not page.csp_violations, "Content-Security-Policy violations:\n" + "\n".join(page.csp_violations)


def _forget_axes_own_violations(page) -> None:
    """Violation reports arrive in order: insert a marked <style>, wait for its report, and drop
    it with everything before it (axe's)."""
    page.evaluate(
        f"""() => {{
            const marker = document.createElement('style');
            marker.id = '{_AXE_DONE}';
            document.head.appendChild(marker);
        }}"""
    )
    for _ in range(100):  # the report is usually there at once; 10 s at most
        marked = [i for i, text in enumerate(page.csp_violations) if f"#{_AXE_DONE}" in text]
        if marked:
            del page.csp_violations[: marked[-1] + 1]
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail("the CSP watcher never reported the marker: is it still listening?")
    page.evaluate(f"() => document.getElementById('{_AXE_DONE}').remove()")


def check_page(page, name: str) -> None:
    """Save a screenshot, then fail on any Content-Security-Policy violation so far and on any
    serious or critical accessibility violation."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert_no_csp_violations(page)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    _forget_axes_own_violations(page)
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{name}: " + "; ".join(serious)


def fits_phone(page, url: str, name: str) -> None:
    page.set_viewport_size(PHONE)
    page.goto(url)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    check_page(page, f"{name}-phone")
    assert overflow <= 1, f"{name} is {overflow}px wider than a phone screen"
    page.set_viewport_size(DESKTOP)


def make_harbour(door_ids=("sandbox-keypad-deadbolt", "sandbox-cloud-lock"), *, email: str = ""):
    """The browser stories' portfolio: a sandbox workspace with a property in Lisbon holding the
    sandbox fleet's doors ``door_ids``, and Maria, its property manager (password PASSWORD)."""
    call_command("setup_roles", stdout=io.StringIO())
    workspace = workspace_get_or_create(name="Harbour Rentals", is_sandbox=True)
    prop = Property.objects.create(workspace=workspace, name="Harbour View", time_zone="Europe/Lisbon")
    fleet = {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace)}
    doors = [fleet[door_id] for door_id in door_ids]
    Device.objects.filter(pk__in=[d.pk for d in doors]).update(property=prop)
    manager = get_user_model().objects.create_user("maria", email=email, password=PASSWORD, is_staff=True)
    manager.groups.add(Group.objects.get(name=PROPERTY_MANAGER))
    Membership.objects.create(user=manager, workspace=workspace)
    return prop, doors


@pytest.fixture
def harbour(db):
    return make_harbour()


def test_a_manager_creates_codes_sees_them_scheduled_and_resolves_a_fault(browser, live_server, harbour):
    prop, (deadbolt, cloud_lock) = harbour
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(10_000)
    base = live_server.url

    page.goto(f"{base}/admin/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Dashboard").first.wait_for()
    check_page(page, "01-front-page")

    # Create a time-bound code for every door of the property, arriving in two days: inside the
    # 72 hours in which a problem Latchkey retries by itself (a lock offline) is flagged.
    page.get_by_role("navigation", name="Latchkey").get_by_role("link", name="New code").click()
    arrival = timezone.now().astimezone(prop.zone).date() + timedelta(days=2)
    assert page.get_by_label("Back door cloud lock").is_checked()
    assert page.get_by_label("Front door deadbolt").is_checked()
    assert page.get_by_label("Check-in time").input_value() == "16:00"
    page.get_by_label("Guest or code name").fill("Ana Souza")
    page.get_by_label("Arrival date").fill(arrival.isoformat())
    page.get_by_label("Departure date").fill((arrival + timedelta(days=3)).isoformat())
    check_page(page, "02-new-code")
    page.get_by_role("button", name="Create the code").click()
    page.get_by_text("Created “Ana Souza” on").wait_for()
    codes = {c.device_id: c for c in AccessCode.objects.all()}
    assert set(codes) == {deadbolt.pk, cloud_lock.pk}
    assert len({c.code for c in codes.values()}) == 1

    # The scheduler's sweep: the deadbolt takes the code with its window, the cloud lock passes
    # its pre-flight check (it gets the code just in time).
    scheduler.sweep(now=timezone.now())
    page.goto(f"{base}/admin/latchkey/")
    section = page.get_by_role("region", name=re.compile("Harbour View"))
    section.get_by_role("row", name=re.compile("Front door deadbolt")).get_by_text(
        "Scheduled on the lock"
    ).wait_for()
    section.get_by_role("row", name=re.compile("Back door cloud lock")).get_by_text(
        "Checked, set just in time"
    ).wait_for()
    check_page(page, "03-dashboard-scheduled")
    fits_phone(page, f"{base}/admin/latchkey/", "03-dashboard")

    page.get_by_role("link", name="timeline").first.click()
    page.get_by_role("link", name=re.compile("Ana Souza Scheduled · Scheduled on the lock")).wait_for()
    check_page(page, "04-timeline")

    # Switch a fault on: the cloud lock goes offline.
    page.get_by_role("link", name="Back door cloud lock").click()
    page.get_by_text("Forecast peak").wait_for()
    check_page(page, "05-lock")
    page.get_by_label("Is offline").check()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was changed successfully").wait_for()

    # Retry now: Latchkey checks the lock at once and finds it offline.
    code = codes[cloud_lock.pk]
    page.goto(f"{base}/admin/codes/accesscode/{code.pk}/change/")
    page.get_by_role("button", name="Retry now").click()
    page.get_by_text("Latchkey is checking this code with its lock now.").wait_for()
    page.reload()
    page.locator("#lk-readiness-line").get_by_text(re.compile("Not ready: The lock is offline")).wait_for()
    assert page.locator("#lk-readiness-line .lk-badge").inner_text() == "Failed"
    check_page(page, "06-code-failed")
    code.refresh_from_db()
    assert readiness(code) is Readiness.FAILED

    # The review queue lists it with the catalog's remedy; acknowledge (by keyboard), resolve.
    page.get_by_role("navigation", name="Latchkey").get_by_role("link", name="Review queue").click()
    # The lock's problem is one card for the lock, listing the stays it affects (issue 18).
    item = page.locator(".lk-lock-card", has=page.locator(f"#code-{code.pk}"))
    item.get_by_text("device_offline: The lock is offline.").wait_for()
    assert (
        "What to do: Latchkey keeps retrying automatically. Check the lock's batteries" in item.inner_text()
    )
    assert page.locator(".lk-queue > li").count() == 1  # the deadbolt's code is fine
    check_page(page, "07-review-queue")
    fits_phone(page, f"{base}/admin/latchkey/review/", "07-review-queue")
    item = page.locator(".lk-lock-card", has=page.locator(f"#code-{code.pk}"))
    item.get_by_role("button", name="Acknowledge").focus()
    page.keyboard.press("Enter")
    page.get_by_text("acknowledged.").first.wait_for()
    item = page.locator(".lk-lock-card", has=page.locator(f"#code-{code.pk}"))
    assert "assigned to maria" in item.inner_text()
    item.get_by_label(re.compile("^Note")).fill("Hub unplugged by the cleaner; plugged back in.")
    item.get_by_role("button", name="Mark resolved").click()
    # The lock is still offline: resolving hides no failure, the code stays flagged.
    page.get_by_text("noted as resolved, but it stays here: device_offline").wait_for()
    assert page.locator(f"#code-{code.pk}").count() == 1

    # The lock back online, a retry finds it: the error clears, and the flag with it.
    page.goto(f"{base}/admin/devices/device/{cloud_lock.pk}/change/")
    page.get_by_label("Is offline").uncheck()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was changed successfully").wait_for()
    page.goto(f"{base}/admin/codes/accesscode/{code.pk}/change/")
    page.get_by_role("button", name="Retry now").click()
    page.get_by_text("Latchkey is checking this code with its lock now.").wait_for()
    page.goto(f"{base}/admin/latchkey/review/")
    page.get_by_text("Nothing flagged").wait_for()
    check_page(page, "08-review-queue-resolved")

    assert [s.kind for s in StaffAction.objects.filter(access_code=code).order_by("created_at", "pk")] == [
        "retried",
        "acknowledged",
        "resolved",
        "retried",
    ]
    page.goto(f"{base}/admin/codes/accesscode/{code.pk}/change/")
    history = page.locator(".field-history").inner_text()
    assert "Resolved by maria: Hub unplugged by the cleaner; plugged back in." in history
    assert_no_csp_violations(page)
    page.close()
