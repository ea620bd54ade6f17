"""Which workspace an API key speaks for, remembered per process for a few seconds.

Looking the key up costs a query (key and workspace) on every request, as much as the rest of a
one-code read. So each process keeps what a key's digest answered for ``KEY_CACHE_SECONDS``
(``common.remembered``):

- a revoke or deletion, or a change to the key's workspace, made in this process empties the
  cache at once (the signals below); one made in another process (another gunicorn worker, the
  admin on another machine) takes effect here within ``KEY_CACHE_SECONDS``;
- only keys that authenticated are kept (an unknown key is looked up every time, so a key
  created elsewhere works at once), and at most ``KEY_CACHE_SIZE`` of them;
- ``last_used_at`` is still written by ``api_key_authenticate`` when an entry is refreshed, so it
  stays accurate to a minute and ``KEY_CACHE_SECONDS``.
"""

from django.db.models.signals import post_delete, post_save

from common.remembered import Remembered
from devices.models import ApiKey, Workspace
from devices.services import api_key_authenticate

KEY_CACHE_SECONDS = 5.0
KEY_CACHE_SIZE = 1000

_keys: Remembered[ApiKey] = Remembered(seconds=KEY_CACHE_SECONDS, size=KEY_CACHE_SIZE)


def api_key_for(raw_key: str) -> ApiKey | None:
    """The active key ``raw_key`` is, with its workspace loaded, or None."""
    return _keys.get(ApiKey.digest(raw_key), lambda: api_key_authenticate(raw_key))


forget_all = _keys.forget_all

# Keys change rarely (created, revoked, named); forgetting every entry is simpler than finding
# the changed one's and costs one lookup per key.
for _sender in (ApiKey, Workspace):
    for _signal, _what in ((post_save, "saved"), (post_delete, "deleted")):
        _signal.connect(_keys.forget_all, sender=_sender, dispatch_uid=f"api.keys.{_sender.__name__}_{_what}")
