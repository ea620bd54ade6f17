"""gunicorn serving the API while a qcluster worker sweeps the same codes: every request
answers, and every code ends as the last write acknowledged asked, on Latchkey and on its lock."""

import re
import threading
import time

import httpx
from django.db.models import F
from django.utils import timezone

from codes.models import AccessCode, AccessCodeStatus
from devices.models import SandboxCommand, SandboxHeldCode
from devices.services import api_key_create
from tests.devices.factories import sandbox_locks
from tests.production.harness import free_port, guest_codes, wait_for

CLIENTS = 8
LOAD_SECONDS = 10


def settled(codes) -> bool:
    """Each code set on its lock, and the lock holds the code's current version."""
    fresh = AccessCode.objects.filter(pk__in=[c.pk for c in codes])
    return (
        fresh.filter(status=AccessCodeStatus.SET, sent_version=F("version")).count() == len(codes)
        and not fresh.filter(claimed_until__isnull=False).exists()
    )


def behind(codes) -> list:
    """The codes not settled: what a failure shows."""
    fresh = AccessCode.objects.filter(pk__in=[c.pk for c in codes])
    return list(
        fresh.exclude(status=AccessCodeStatus.SET, sent_version=F("version"), claimed_until=None).values_list(
            "status", "version", "sent_version", "next_attempt_at", "claimed_until"
        )[:10]
    )


def assert_pages_and_static_files_are_served(site: str) -> None:
    """With DEBUG off, the admin's pages render and gunicorn serves their static files itself
    (whitenoise), under hashed names that browsers may keep for good."""
    login = httpx.get(f"{site}/admin/login/")
    assert login.status_code == 200
    stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', login.text)
    assert stylesheet, "the login page links no hashed stylesheet"
    css = httpx.get(site + stylesheet[1])
    assert css.status_code == 200 and "body" in css.text
    assert "immutable" in css.headers["cache-control"]


def test_api_under_concurrent_load_while_the_worker_sweeps_loses_no_update(production):
    # Locks that take their time to answer, as real ones do: updates arrive while the worker
    # waits on a lock for the version they replace.
    locks = sandbox_locks(10, response_delay_ms=100)
    codes = guest_codes(locks, 120)
    _, api_key = api_key_create(workspace=locks[0].workspace)
    production.manage("collectstatic", "--noinput", "--verbosity", "0")
    port = free_port()
    production.start(
        "gunicorn",
        "-m",
        "gunicorn",
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "3",
        "--access-logfile",
        "-",
    )
    api = f"http://127.0.0.1:{port}/api"
    headers = {"Authorization": f"Bearer {api_key}"}

    def ready():
        try:
            return httpx.post(f"{api}/devices/list", json={}, headers=headers).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(ready, timeout=30, what="gunicorn to answer")
    assert_pages_and_static_files_are_served(f"http://127.0.0.1:{port}")
    # Large batches on slow locks: each code spends seconds between the worker reading it and
    # recording the lock's answer, and the clients' updates land in that window.
    production.qcluster("worker", Q_WORKERS="2", SCHEDULER_BATCH_SIZE="20")
    production.wait_for_clusters(1)

    # Each client owns its share of the codes, so each code's last write is well defined: a
    # rename every round, and a new PIN (unique to the code and round, so never a clash) every
    # third round.
    asked: dict = {}  # access_code_id -> (name, code) of the last write acknowledged
    failures: list = []
    updates_acknowledged, counting = [0], threading.Lock()

    def client(share):
        with httpx.Client(base_url=api, headers=headers, timeout=30) as http:
            round_ = 0
            while time.monotonic() < deadline:
                round_ += 1
                for n, code in share:
                    body = {"access_code_id": str(code.access_code_id), "name": f"Guest {n} round {round_}"}
                    if round_ % 3 == 0:
                        body["code"] = f"{(round_ // 3) % 10}{n:05d}"
                    answer = http.post("/access_codes/update", json=body)
                    if answer.status_code != 200:
                        failures.append(("update", answer.status_code, answer.text[:300]))
                        continue
                    name, pin = asked.get(code.access_code_id, (None, code.code))
                    asked[code.access_code_id] = (body["name"], body.get("code", pin))
                    with counting:
                        updates_acknowledged[0] += 1
                    read = http.post("/access_codes/get", json={"access_code_id": str(code.access_code_id)})
                    if read.status_code != 200:
                        failures.append(("get", read.status_code, read.text[:300]))
                listing = http.post("/access_codes/list", json={"device_id": str(share[0][1].device_id)})
                if listing.status_code != 200:
                    failures.append(("list", listing.status_code, listing.text[:300]))

    numbered = list(enumerate(codes))
    clients = [threading.Thread(target=client, args=(numbered[i::CLIENTS],)) for i in range(CLIENTS)]
    load_started, deadline = timezone.now(), time.monotonic() + LOAD_SECONDS
    for thread in clients:
        thread.start()
    # The minute schedule's sweeps, enqueued while the load runs.
    while any(thread.is_alive() for thread in clients):
        production.enqueue_sweeps(2)
        time.sleep(0.5)
    for thread in clients:
        thread.join()
    load_ended = timezone.now()

    assert failures == []
    assert len(asked) == len(codes)
    assert SandboxCommand.objects.filter(sent_at__range=(load_started, load_ended)).exists(), (
        "the worker sent nothing while the API was under load"
    )
    for _ in range(20):  # the sweeps that carry the last writes to the locks
        production.enqueue_sweeps(1)
        if wait_for(lambda: settled(codes), timeout=3, what="", required=False):
            break
    wait_for(
        lambda: settled(codes),
        timeout=30,
        what=lambda: f"every code's last write on its lock: {behind(codes)}",
    )

    held = {h.provider_code_id: h for h in SandboxHeldCode.objects.all()}
    assert len(held) == len(codes)  # nothing left behind by an earlier version
    for code in AccessCode.objects.filter(pk__in=[c.pk for c in codes]):
        name, pin = asked[code.access_code_id]
        assert (code.name, code.code) == (name, pin)
        on_lock = held[code.provider_code_id]
        assert (on_lock.code, on_lock.name) == (pin, code.appearance["name"])
    server_log = production.log("gunicorn")
    assert "[ERROR]" not in server_log and "Traceback" not in server_log
    assert server_log.count('/api/access_codes/update HTTP/1.1" 200') == updates_acknowledged[0]
