"""Ctrl-C during a HiGHS solve that calls back into Python (twin.rens, twin.crossover, the
Benders masters of twin.decompose).

highspy 1.16 swallows an exception raised in a callback: Ctrl-C while HiGHS is in one ends
the run as a solve error, its plan lost, and the caller carries on as if nothing was asked.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import highspy


@contextmanager
def ctrl_c_stops(highs: highspy.Highs) -> Iterator[None]:
    """While the body runs `highs`, on the main thread, Ctrl-C only asks HiGHS to stop at
    its next check (the callbacks run on the solving thread), and KeyboardInterrupt is
    raised once it has."""
    on_main = threading.current_thread() is threading.main_thread()
    if not on_main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # Ctrl-C goes elsewhere, or is handled by someone else
        return
    asked = threading.Event()

    def stop_if_asked(event) -> None:
        if asked.is_set():
            event.interrupt()

    previous = signal.signal(signal.SIGINT, lambda *_: asked.set())
    highs.cbMipInterrupt.subscribe(stop_if_asked)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        highs.cbMipInterrupt.unsubscribe(stop_if_asked)
    if asked.is_set():
        raise KeyboardInterrupt
