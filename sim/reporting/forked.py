"""Work done in a forked child process while this process does other work (end of ``cli.py run``).

:func:`in_child` starts ``fn`` in a child made with ``fork`` (it inherits everything: no pickling)
and returns a handle whose ``join()`` waits for it. The work must only write files of its own; what
it returns is not passed back. Where forking is unsafe or unavailable (another thread is running, as
in the app's server, or no ``fork``), or when the child fails, ``join()`` runs ``fn`` in this process
instead: the files are the same bytes either way (same code and inputs).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Callable
from typing import Any


class Forked:
    """A handle on ``fn`` running in a forked child (or not started: run by :meth:`join`)."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn
        self.child: Any = None
        if threading.active_count() == 1 and "fork" in mp.get_all_start_methods():
            self.child = mp.get_context("fork").Process(target=fn, daemon=True)
            self.child.start()

    def join(self, timeout: float = 600) -> None:
        """Wait for the child; run ``fn`` here if there was none, it failed or took longer than ``timeout`` s."""
        if self.child is not None:
            self.child.join(timeout)
            if self.child.is_alive():
                self.child.terminate()
                self.child.join()
            if self.child.exitcode == 0:
                return
        self.fn()


def in_child(fn: Callable[[], Any]) -> Forked:
    """Start ``fn`` in a forked child when safe; ``.join()`` waits (or runs it here)."""
    return Forked(fn)
