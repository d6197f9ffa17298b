"""Graceful stop on SIGTERM/SIGINT: the loop finishes its step, saves `last` and exits.

A second signal while stopping (e.g. a step that never ends) raises `KeyboardInterrupt` at once.
DataLoader workers leave the process group as they start (`detach_worker`, forked with the stop
signals blocked by `stop_signals_blocked`), so a signal sent to the whole group (`timeout`, Ctrl-C,
a batch scheduler) reaches the main process only: the workers neither die of it (which used to
end the run with "DataLoader worker ... killed by signal") nor log the warning a second time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

HANDLED = (signal.SIGTERM, signal.SIGINT)

# A previous handler as `signal.signal` returns it: a function, SIG_DFL/SIG_IGN, or None (set outside Python).
Handler = Callable[[int, FrameType | None], Any] | int | None


class StopRequest:
    """Context manager that records the first SIGTERM/SIGINT instead of dying (main thread only)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Handler] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        logger.warning(
            "%s received: finishing this step, saving a checkpoint, then stopping",
            signal.Signals(signum).name,
        )

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            # None: the handler was set outside Python and cannot be put back; the default is closest
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Block SIGTERM/SIGINT in this thread (they wait, pending) while worker processes are forked."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def detach_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: leave the parent's process group, ignore SIGINT, unblock signals.

    A stop signal sent to the old group between the fork and here is pending (blocked): it is
    consumed, so only the main process acts on it. The parent still ends its workers by pid.
    """
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while signal.sigtimedwait(HANDLED, 0) is not None:
        pass
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
