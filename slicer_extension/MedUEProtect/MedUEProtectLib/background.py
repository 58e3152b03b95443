"""Run one slow call (a preview, a download) off Slicer's main thread, polled from a timer.

Only the call runs in the thread; its result (or its MedUEError) is picked up on the main thread
by :meth:`BackgroundCall.result`, where the scene may be touched. Never touch the MRML scene or
Qt from ``function``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from MedUEProtectLib.errors import MedUEError


class BackgroundCall:
    """``function(*args, **kwargs)`` in a daemon thread, started at once."""

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(function, args, kwargs), daemon=True, name="medue-call"
        )
        self._thread.start()

    def _run(self, function: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            self._value = function(*args, **kwargs)
        except BaseException as error:  # handed to the main thread by result()
            self._error = error

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    @property
    def elapsed(self) -> float:
        """Seconds since the call started."""
        return time.monotonic() - self.started

    def result(self) -> Any:
        """The call's value once :attr:`done`; re-raises its MedUEError (anything else becomes
        a MedUEError naming it, so the panel still shows one line)."""
        if not self.done:
            raise RuntimeError("the call has not finished: check .done first")
        if isinstance(self._error, MedUEError):
            raise self._error
        if self._error is not None:
            raise MedUEError(f"unexpected error: {type(self._error).__name__}: {self._error}")
        return self._value

    def wait(self, timeout: float | None = None) -> Any:
        """Block until done (scripts and tests; the panel polls :attr:`done`)."""
        self._thread.join(timeout)
        return self.result()
