"""Run decoding in a child process that can be killed: a hung or crashing decoder costs one video.

FFmpeg and decord can hang on malformed files, sometimes holding the GIL, so a thread cannot
interrupt them. :class:`IsolatedWorker` keeps one long-lived child (spawned once per stage actor,
so the import cost is paid once) and sends it ``(function, args)``; when a call exceeds its
timeout the child is killed (SIGKILL) and a fresh one is started for the next call. A child that
dies (segfault, out of memory) is reported as :class:`WorkerDied`.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback


class CallTimeout(Exception):
    """The call ran past its timeout; its process was killed."""


class WorkerDied(Exception):
    """The child process exited during the call (crash, out of memory)."""


class RemoteError(Exception):
    """The function raised in the child; ``kind`` is the exception's class name."""

    def __init__(self, kind: str, message: str):
        self.kind, self.message = kind, message
        super().__init__(f"{kind}: {message}")


def _serve(conn) -> None:
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):  # parent gone: exit instead of lingering
            return
        try:
            result = ("ok", fn(*args))
        except Exception as exc:  # reported to the parent as data; the child stays usable
            result = ("error", type(exc).__name__, f"{exc}\n{traceback.format_exc(limit=3)}")
        conn.send(result)


class IsolatedWorker:
    """One child process serving calls; killed and replaced when a call times out."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")  # fork is unsafe inside threaded Ray workers
        self._proc = None
        self._conn = None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def call(self, fn, *args, timeout: float):
        if self._proc is None or not self._proc.is_alive():
            self._start()
        try:
            self._conn.send((fn, args))
            ready = self._conn.poll(timeout)
        except (BrokenPipeError, EOFError, OSError) as exc:
            self.close()
            raise WorkerDied(str(exc)) from exc
        if not ready:
            self.close()
            raise CallTimeout(f"no answer within {timeout:.0f} s")
        try:
            answer = self._conn.recv()
        except (EOFError, OSError) as exc:
            code = self._proc.exitcode if self._proc else None
            self.close()
            raise WorkerDied(f"exit code {code}") from exc
        if answer[0] == "error":
            raise RemoteError(answer[1], answer[2])
        return answer[1]

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
