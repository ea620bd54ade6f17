"""Fetching a booking calendar over HTTP: the shared outbound address guard on the URL and on
every redirect, a timeout, a size cap enforced while streaming (a 50 MB answer is cut off at the
cap, never read whole), and conditional requests (ETag / Last-Modified) so an unchanged calendar
costs the platform a 304."""

from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
from django.conf import settings

from calendars.models import URL_MAX_LENGTH
from common.addresses import outbound_url_problem

MAX_REDIRECTS = 5
USER_AGENT = "Latchkey booking-calendar sync"


class FetchFailed(Exception):
    """The calendar could not be fetched; the message says why, for the feed's page."""


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: not modified since the last fetch (304)
    etag: str = ""
    last_modified: str = ""


def url_problem(url) -> str | None:
    """What is wrong with ``url`` as a calendar's address, or None (the webhooks' guard)."""
    return outbound_url_problem(
        url,
        max_length=URL_MAX_LENGTH,
        allow_private=settings.OUTBOUND_ALLOW_PRIVATE_URLS,
        refusal="calendars are only fetched from public addresses",
    )


def fetch_calendar(url: str, *, etag: str = "", last_modified: str = "") -> Fetched:
    headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, text/plain;q=0.5, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeout = settings.CALENDAR_TIMEOUT_SECONDS
    limit = settings.CALENDAR_MAX_BYTES
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for hop in range(MAX_REDIRECTS + 1):
            # Checked again at each hop: a public URL must not redirect Latchkey into its own
            # network (cloud metadata, a router's admin page).
            problem = url_problem(url)
            if problem:
                where = "The calendar's URL" if hop == 0 else f"The calendar redirected to {url[:200]}, which"
                raise FetchFailed(f"{where} {problem}")
            try:
                with client.stream("GET", url, headers=headers) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    return _read(response, limit)
            except httpx.TimeoutException:
                raise FetchFailed(
                    f"The calendar's server did not answer within {timeout:g} seconds."
                ) from None
            except httpx.HTTPError as exc:
                raise FetchFailed(
                    f"The calendar could not be fetched: {exc or type(exc).__name__}."
                ) from None
    raise FetchFailed(f"The calendar redirected more than {MAX_REDIRECTS} times.")


def _read(response: httpx.Response, limit: int) -> Fetched:
    if response.status_code == 304:
        return Fetched(None, response.headers.get("etag", ""), response.headers.get("last-modified", ""))
    if response.status_code >= 300:
        raise FetchFailed(
            f"The calendar's server answered HTTP {response.status_code} {response.reason_phrase}."
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchFailed(f"The calendar is {int(declared):,} bytes; at most {limit:,} are read.")
    body = bytearray()
    for chunk in response.iter_bytes():  # decoded, so a compressed bomb is capped too
        body += chunk
        if len(body) > limit:
            raise FetchFailed(f"The calendar is larger than {limit:,} bytes; it was not read.")
    return Fetched(bytes(body), response.headers.get("etag", ""), response.headers.get("last-modified", ""))
