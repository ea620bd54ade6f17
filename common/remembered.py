"""What a lookup answered, remembered per process for a few seconds.

Some lookups run on every request and almost never change (which workspace an API key speaks
for, which account a callback URL names and its signing secret): each costs a query and the
ORM's work to build it, as much as the rest of a small request. A ``Remembered`` keeps found
answers for ``seconds``:

- only found answers are kept (None is looked up again each time, so a row created elsewhere
  is seen at once);
- ``forget_all`` empties it; ``forget_when_saved_or_deleted`` connects it to the models whose
  change alters an answer, so a change made in this process takes effect at once and one made
  in another process (another gunicorn worker, the admin elsewhere) within ``seconds``;
- at most ``size`` entries: past that it starts afresh rather than grow.
"""

import time
from collections.abc import Callable, Hashable
from threading import Lock
from typing import Generic, TypeVar

from django.db.models.signals import post_delete, post_save

T = TypeVar("T")


class Remembered(Generic[T]):
    def __init__(self, *, seconds: float, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, T]] = {}
        self._lock = Lock()  # gunicorn's threaded workers and the test server share a process

    def get(self, key: Hashable, look_up: Callable[[], T | None]) -> T | None:
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = look_up()
        with self._lock:
            if value is None:
                self._entries.pop(key, None)
            else:
                if len(self._entries) >= self.size:
                    self._entries.clear()
                self._entries[key] = (now + self.seconds, value)
        return value

    def forget_all(self, **signal_kwargs) -> None:
        """Empty it; takes (and ignores) a signal's arguments so it can be a receiver."""
        with self._lock:
            self._entries.clear()

    def forget_when_saved_or_deleted(self, *models, name: str) -> None:
        """Forget everything whenever a row of ``models`` is saved or deleted in this process
        (``name``: unique, for the signals' dispatch ids). Such rows change rarely; forgetting
        every entry is simpler than finding the changed one's and costs one lookup per key."""
        for model in models:
            for signal, what in ((post_save, "saved"), (post_delete, "deleted")):
                signal.connect(self.forget_all, sender=model, dispatch_uid=f"{name}.{model.__name__}_{what}")
