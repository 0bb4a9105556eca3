"""The killable decoding sandbox: a hung call is killed, a crash is reported, the worker recovers."""

from __future__ import annotations

import os
import time

import pytest

from preprocess.sandbox import CallTimeout, IsolatedWorker, RemoteError, WorkerDied

pytestmark = pytest.mark.timeout(60)


def _hang(seconds: float) -> None:
    time.sleep(seconds)


def _crash() -> None:
    os._exit(3)


def _fail() -> None:
    raise ValueError("bad frame")


def test_timeout_kills_and_next_call_works():
    worker = IsolatedWorker()
    try:
        first_pid = worker.call(os.getpid, timeout=30)
        start = time.monotonic()
        with pytest.raises(CallTimeout):
            worker.call(_hang, 60, timeout=1)
        assert time.monotonic() - start < 10
        assert worker.call(os.getpid, timeout=30) != first_pid  # a fresh child
        with pytest.raises(WorkerDied):
            worker.call(_crash, timeout=30)
        with pytest.raises(RemoteError, match="ValueError"):
            worker.call(_fail, timeout=30)
        assert worker.call(sum, [1, 2], timeout=30) == 3
    finally:
        worker.close()
