"""The retry clock seam patches the one sleep moto 5.2.5's Retrier uses, and restores it."""

from __future__ import annotations

import time

import pytest
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from clusterflow.local.clock import RetryClock


def test_retrier_sleeps_are_scaled_and_recorded() -> None:
    before = retrier_decl.time  # the module-level name the seam replaces
    assert callable(before.sleep)
    clock = RetryClock(scale=0.001)
    clock.install()
    try:
        started = time.monotonic()
        retrier_decl.time.sleep(2.0)
        assert time.monotonic() - started < 1.0
        assert clock.slept == [2.0]
    finally:
        clock.uninstall()
    assert retrier_decl.time is before


def test_negative_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        RetryClock(-1)
