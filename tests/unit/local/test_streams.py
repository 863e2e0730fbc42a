"""Output routing: a routed thread's prints and log records go to its file, other threads' pass through."""

from __future__ import annotations

import io
import logging
import sys
import threading

from clusterflow.local.streams import OutputRouter


def test_routed_thread_output_goes_to_its_file_and_everything_is_restored() -> None:
    terminal = io.StringIO()
    saved = sys.stdout
    sys.stdout = terminal
    logger = logging.getLogger("clusterflow-test-streams")
    handler = logging.StreamHandler(sys.stdout)  # bound before the router, as Powertools does at import
    logger.addHandler(handler)
    logger.propagate = False
    router = OutputRouter()
    try:
        router.install()
        captured = io.StringIO()

        def handler_thread() -> None:
            with router.route(captured):
                print("from the handler")
                logger.warning("handler log line")

        worker = threading.Thread(target=handler_thread)
        worker.start()
        worker.join()
        print("from the main thread")
        router.uninstall()
        assert sys.stdout is terminal and handler.stream is terminal
    finally:
        sys.stdout = saved
        logger.removeHandler(handler)
    assert captured.getvalue() == "from the handler\nhandler log line\n"
    assert terminal.getvalue() == "from the main thread\n"
