"""Which workspace an API key speaks for, remembered per process for a few seconds.

Looking the key up costs a query (key and workspace) on every request, as much as the rest of a
one-code read. So each process keeps what a key's digest answered for ``KEY_CACHE_SECONDS``:

- a revoke or deletion, or a change to the key's workspace, made in this process empties the
  cache at once (the signals below); one made in another process (another gunicorn worker, the
  admin on another machine) takes effect here within ``KEY_CACHE_SECONDS``;
- only keys that authenticated are kept (an unknown key is looked up every time, so a key
  created elsewhere works at once), and at most ``KEY_CACHE_SIZE`` of them: past that the cache
  starts afresh rather than grow;
- ``last_used_at`` is still written by ``api_key_authenticate`` when an entry is refreshed, so it
  stays accurate to a minute and ``KEY_CACHE_SECONDS``.
"""

import time
from threading import Lock

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from devices.models import ApiKey, Workspace
from devices.services import api_key_authenticate

KEY_CACHE_SECONDS = 5.0
KEY_CACHE_SIZE = 1000

_entries: dict[str, tuple[float, ApiKey]] = {}
_lock = Lock()  # gunicorn's threaded workers and the test server share a process


def api_key_for(raw_key: str) -> ApiKey | None:
    """The active key ``raw_key`` is, with its workspace loaded, or None."""
    digest = ApiKey.digest(raw_key)
    now = time.monotonic()
    entry = _entries.get(digest)
    if entry is not None and entry[0] > now:
        return entry[1]
    api_key = api_key_authenticate(raw_key)
    with _lock:
        if api_key is None:
            _entries.pop(digest, None)
        else:
            if len(_entries) >= KEY_CACHE_SIZE:
                _entries.clear()
            _entries[digest] = (now + KEY_CACHE_SECONDS, api_key)
    return api_key


def forget_all() -> None:
    with _lock:
        _entries.clear()


@receiver(post_save, sender=ApiKey, dispatch_uid="api.keys.key_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="api.keys.key_deleted")
@receiver(post_save, sender=Workspace, dispatch_uid="api.keys.workspace_saved")
@receiver(post_delete, sender=Workspace, dispatch_uid="api.keys.workspace_deleted")
def _forget_on_change(**kwargs) -> None:
    # Keys change rarely (created, revoked, named); forgetting every entry is simpler than
    # finding the changed one's and costs one lookup per key.
    forget_all()
