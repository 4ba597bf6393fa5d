"""Work done in a forked child process while this process does other work (the end of ``cli.py run``:
the tables assembled while the analysis is written, the planning tables, the figures drawn from the
cells while tests.csv is written).

:func:`in_child` starts ``fn`` in a child made with ``fork`` (it inherits everything: no pickling of
``fn``) and returns a handle whose ``join()`` waits for it and returns ``fn``'s result (sent back through
a pipe, so it must pickle). The work must only write files of its own. Where forking is unsafe or
unavailable (another thread is running, as in the app's server, or no ``fork``), or when the child fails
or takes longer than the timeout, ``join()`` runs ``fn`` in this process instead: the files are the same
bytes either way (same code and inputs), and an error is raised here, as without a child.
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
        self._recv: Any = None
        if threading.active_count() == 1 and "fork" in mp.get_all_start_methods():
            ctx = mp.get_context("fork")
            self._recv, send = ctx.Pipe(duplex=False)
            self.child = ctx.Process(target=_run_and_send, args=(fn, send), daemon=True)
            self.child.start()
            send.close()

    def join(self, timeout: float = 600) -> Any:
        """``fn``'s result: the child's, or (no child, it failed or took longer than ``timeout`` s) from
        running ``fn`` here."""
        if self.child is not None:
            got = None
            try:
                got = self._recv.recv() if self._recv.poll(timeout) else None  # (result,); nothing if it failed
            except EOFError:
                pass
            finally:
                self.child.join(None if got is not None else 0)  # done: let it exit; else stop it
                if self.child.is_alive():
                    self.child.terminate()
                    self.child.join()
                self._recv.close()
            if got is not None:  # sent once the work was done
                return got[0]
        return self.fn()


def _run_and_send(fn: Callable[[], Any], send: Any) -> None:
    send.send((fn(),))
    send.close()


def in_child(fn: Callable[[], Any]) -> Forked:
    """Start ``fn`` in a forked child when safe; ``.join()`` waits and returns its result (or runs it here)."""
    return Forked(fn)
