"""Seam's published OpenAPI document, from the npm package ``@seamapi/types`` (pinned in
package.json, installed by ``npm ci``), and the part of it Latchkey claims.

The package ships the document as a JavaScript module only, so Node prints it as JSON once per
test session.
"""

import functools
import json
import subprocess
from pathlib import Path

from django.urls import URLPattern

ROOT = Path(__file__).resolve().parents[2]
_DUMP = "process.stdout.write(JSON.stringify(require('@seamapi/types/connect').openapi))"
METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def seam_openapi() -> dict:
    out = subprocess.run(
        ["node", "-e", _DUMP],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def claimed_paths() -> list[str]:
    """The Seam routes api/urls.py serves, as Seam spells them (``/access_codes/create``).
    Latchkey's own extensions live under ``/latchkey/`` and are not Seam's to judge."""
    from api import urls

    return [
        "/" + p.pattern._route
        for p in urls.urlpatterns
        if isinstance(p, URLPattern)
        and hasattr(p.pattern, "_route")
        and not p.pattern._route.endswith("/")
        and not p.pattern._route.startswith("latchkey/")
    ]


def claimed_groups() -> set[str]:
    return {p.split("/")[1] for p in claimed_paths()}


def operations(paths) -> list[tuple[str, str]]:
    """(path, method) for each of Seam's operations on ``paths``."""
    spec = seam_openapi()["paths"]
    return [(path, m) for path in paths for m in METHODS if m in spec.get(path, {})]


def unclaimed_paths() -> list[str]:
    claimed = set(claimed_paths())
    groups = claimed_groups()
    return sorted(p for p in seam_openapi()["paths"] if p.split("/")[1] in groups and p not in claimed)


def claimed_spec() -> dict:
    """Seam's document cut down to the operations Latchkey claims, for schemathesis."""
    spec = dict(seam_openapi())
    claimed = set(claimed_paths())
    spec["paths"] = {p: ops for p, ops in spec["paths"].items() if p in claimed}
    return spec
