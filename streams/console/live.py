"""In-process fan-out of new and changed alerts to the console's server-sent-event clients.

``publish`` may be called from any thread (the collector runs in one of its own); it hands the
summary to the event loop with ``call_soon_threadsafe`` and returns at once. Each subscriber has
a bounded queue: a slow browser loses its oldest rows (it reloads the feed on reconnect), the
publisher never waits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator

from streams.console.views import AlertSummary

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256


class Subscription:
    """One client's view of the feed: an async iterator of summaries; ``close()`` to leave."""

    def __init__(self, feed: LiveFeed, maxsize: int) -> None:
        self._feed = feed
        self._items: deque[AlertSummary] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self.closed = False
        self.dropped = 0

    def _put(self, summary: AlertSummary) -> None:  # on the loop
        if len(self._items) == self._items.maxlen:
            self.dropped += 1  # deque(maxlen) drops the oldest
        self._items.append(summary)
        self._ready.set()

    def pending(self) -> int:
        return len(self._items)

    async def get(self, timeout: float | None = None) -> AlertSummary | None:
        """The next summary; None when ``timeout`` passes first or the subscription is closed."""
        if not self._items and not self.closed:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        return self._items.popleft() if self._items else None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._ready.set()
            self._feed._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[AlertSummary]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AlertSummary]:
        while True:
            item = await self.get()
            if item is None:
                return
            yield item

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class LiveFeed:
    """Fan-out of AlertSummary values to every subscribed SSE client of this process."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.queue_size = queue_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self.published = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the feed to the loop its subscribers run on (the web server's loop)."""
        self._loop = loop

    def publish(self, summary: AlertSummary) -> None:
        """Hand a summary to every subscriber; callable from any thread, never blocks.

        Before ``start`` (or after the loop closed) the summary is dropped: nobody can be listening.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._deliver, summary)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def _deliver(self, summary: AlertSummary) -> None:
        self.published += 1
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber._put(summary)

    def subscribe(self) -> Subscription:
        """A new subscription; call on the feed's loop. Close it (or use ``async with``) when done."""
        subscription = Subscription(self, self.queue_size)
        with self._lock:
            self._subscribers.add(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def close_all(self) -> None:
        """End every subscription (server shutdown): their iterators stop, their streams close."""
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.close()
