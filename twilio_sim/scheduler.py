"""One thread that runs each planned action at its time (state changes, callbacks due)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Scheduler:
    """Actions run on the scheduler thread while holding ``lock``, the engine's lock: an
    action sees and changes the simulator's state as one step."""

    def __init__(self, lock: threading.RLock, stopped: threading.Event):
        self._wakeup = threading.Condition(lock)
        self._stopped = stopped
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        # Breaks ties in order of scheduling, so equal times keep their planned order.
        self._counter = itertools.count()
        self._thread = threading.Thread(target=self._run, name="twilio-sim-scheduler", daemon=True)

    def at(self, when: float, action: Callable[[], None]) -> None:
        with self._wakeup:
            heapq.heappush(self._heap, (when, next(self._counter), action))
            self._wakeup.notify()

    def is_empty(self) -> bool:
        with self._wakeup:
            return not self._heap

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wakeup:
            self._wakeup.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._wakeup:
                now = time.time()
                if not self._heap or self._heap[0][0] > now:
                    timeout = (self._heap[0][0] - now) if self._heap else 0.5
                    self._wakeup.wait(timeout=min(timeout, 0.5))
                    continue
                _, _, action = heapq.heappop(self._heap)
                action()
