"""Schemathesis against a live Latchkey, driven by Seam's own OpenAPI document cut down to the
operations Latchkey claims: whatever Seam's schema allows a client to send, Latchkey answers
without a 5xx, and every answer is valid against Seam's response schema.

Not part of the default suite (the file name does not start with test_): ``make schemathesis``
runs it, with ``FUZZ_EXAMPLES`` examples per operation (20 by default).
"""

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.seam_spec import claimed_spec
from tests.api.test_seam_conformance import _without_discriminators

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))

# Seam's discriminators name schemas its document does not define; the oneOf variants are
# told apart by their enum tags without them.
schema = schemathesis.openapi.from_dict(_without_discriminators(claimed_spec()))


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_seam_operation(case, live_server, api_key, fleet):
    case.call_and_validate(
        base_url=f"{live_server.url}/api",
        headers={"Authorization": f"Bearer {api_key}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
