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
_keys.forget_when_saved_or_deleted(ApiKey, Workspace, name="api.keys")
