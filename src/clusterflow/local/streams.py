"""Per-thread routing of sys.stdout/sys.stderr: what handlers and Spark jobs print goes to a log file.

On AWS a function's prints (Powertools' metric lines, warnings) land in CloudWatch Logs; in-process they
would land on the user's terminal. `OutputRouter.install()` replaces sys.stdout and sys.stderr with
streams that send the writes of a thread inside `router.route(file)` to that file and every other
thread's writes through unchanged.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class _RoutedStream(io.TextIOBase):
    def __init__(self, fallback: TextIO, routes: dict[int, TextIO]) -> None:
        self.fallback = fallback
        self._routes = routes

    def _target(self) -> TextIO:
        return self._routes.get(threading.get_ident(), self.fallback)

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()

    def fileno(self) -> int:
        return self.fallback.fileno()


class OutputRouter:
    def __init__(self) -> None:
        self._routes: dict[int, TextIO] = {}
        self._installed: tuple[_RoutedStream, _RoutedStream] | None = None
        self._retargeted: list[tuple[logging.StreamHandler[Any], TextIO]] = []

    def install(self) -> None:
        if self._installed is None:
            out = _RoutedStream(sys.stdout, self._routes)
            err = _RoutedStream(sys.stderr, self._routes)
            self._installed = (out, err)
            sys.stdout, sys.stderr = out, err
            self._retarget_log_handlers(out, err)

    def _retarget_log_handlers(self, out: _RoutedStream, err: _RoutedStream) -> None:
        """Handlers made before install (Powertools' Logger binds sys.stdout at import) get routed too."""
        loggers = [logging.getLogger()] + [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ]
        for logger in loggers:
            for handler in logger.handlers:
                if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
                    continue
                stream = handler.stream
                if stream is out.fallback or stream is err.fallback:
                    self._retargeted.append((handler, stream))
                    handler.setStream(out if stream is out.fallback else err)  # type: ignore[arg-type]

    def uninstall(self) -> None:
        if self._installed is None:
            return
        out, err = self._installed
        if sys.stdout is out:
            sys.stdout = out.fallback
        if sys.stderr is err:
            sys.stderr = err.fallback
        for handler, stream in self._retargeted:
            handler.setStream(stream)
        self._retargeted.clear()
        self._installed = None

    @contextmanager
    def route(self, target: TextIO) -> Iterator[None]:
        """Send this thread's prints to `target` for the block."""
        ident = threading.get_ident()
        previous = self._routes.get(ident)
        self._routes[ident] = target
        try:
            yield
        finally:
            if previous is None:
                self._routes.pop(ident, None)
            else:
                self._routes[ident] = previous
