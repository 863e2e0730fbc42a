"""While the local cloud runs, everything written to fds 1 and 2 (JVM, moto, warnings) goes to the log."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, os, sys, warnings
from pathlib import Path
from clusterflow.local.run import _output_to_log

with _output_to_log(Path(sys.argv[1])) as console:
    os.write(1, b"raw fd1 noise\\n")
    os.write(2, b"raw fd2 noise\\n")
    print("python print noise")
    logging.getLogger("moto").warning("moto warning noise")
    warnings.warn("a warning noise")
    os.system("echo child process noise")
    console.line("state line for the user")
    console.error("error line for the user")
print("after the run")
"""


def test_noise_goes_to_the_log_and_user_lines_to_the_terminal(tmp_path: Path) -> None:
    log = tmp_path / "local-cloud.log"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["state line for the user", "after the run"]
    assert done.stderr.splitlines() == ["error line for the user"]
    logged = log.read_text()
    for noise in ("raw fd1", "raw fd2", "python print", "moto warning", "a warning", "child process"):
        assert noise in logged, noise


def test_logging_is_restored_after_the_run(tmp_path: Path) -> None:
    from clusterflow.local.run import _output_to_log

    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    with _output_to_log(tmp_path / "log.txt"):
        pass
    assert (root.level, list(root.handlers)) == before
