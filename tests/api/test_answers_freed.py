"""An API answer is freed as soon as it is sent, not kept until Python's cycle collector runs: DRF
keeps the response on the view while the response's renderer context keeps the view, and that
cycle held a whole page (thousands of objects) per request, which the collector then had to walk
(bench/RESULTS.md, issue 21). And a served process freezes what it holds at start (config/wsgi.py)."""

import gc
import os
import subprocess
import sys
import weakref

import pytest
from django.test import RequestFactory

from api import devices


@pytest.mark.django_db
def test_an_answer_is_freed_by_reference_counting_alone(workspace, api_key, fleet):
    view = devices.List.as_view()
    request = RequestFactory().post(
        "/api/devices/list", data={}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key}"
    )
    gc.collect()
    gc.disable()
    try:
        response = view(request)
        response.render()
        assert response.status_code == 200 and len(response.data["devices"]) == len(fleet)
        answer = weakref.ref(response)
        del response
        assert answer() is None, "the response outlived its last reference (a reference cycle)"
    finally:
        gc.enable()


def test_the_served_application_freezes_what_it_holds_at_start():
    frozen = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", "import config.wsgi, gc; print(gc.get_freeze_count())"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DEBUG": "1"},
    )
    assert int(frozen.stdout.strip().splitlines()[-1]) > 10_000
