"""Suppression checked at send time: an address unsubscribed during a run is not mailed.

Reading the whole store per message would cost O(subscribers) each time, so the suppressed
set is reloaded only when the store has changed (its change token), at
most every ``every`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Protocol

from digest.subscribers import address_key

_REASON = "suppressed (unsubscribed, bounced or complained) since the run started"


class _Source(Protocol):
    def suppressed(self) -> frozenset[str]: ...

    def change_token(self) -> Hashable: ...


class SuppressionWatch:
    """``watch(address)`` returns a reason not to send, or None."""

    def __init__(
        self,
        store: _Source,
        *,
        since: Hashable | None = None,
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``since``: the store's change token when the caller read its recipients (none of them
        was suppressed then), which spares reading the suppressed set until the store changes."""
        self._store, self._every, self._clock = store, every, clock
        if since is None:
            self._version, self._keys = store.change_token(), store.suppressed()
        else:
            self._version, self._keys = since, frozenset()
        self._checked = clock()

    def __call__(self, address: str) -> str | None:
        now = self._clock()
        if now - self._checked >= self._every:
            self._checked = now
            version = self._store.change_token()
            if version != self._version:
                self._version, self._keys = version, self._store.suppressed()
        return _REASON if address_key(address) in self._keys else None
