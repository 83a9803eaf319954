"""Logging for workflow steps: everything (logging, warnings, progress, and what C libraries
such as TensorFlow and OpenCV write straight to file descriptors 1 and 2) goes to the rule's log
file. Every failure ends up there with its traceback; a user-fixable error (UserInputError) or a
full disk also ends the step with one clear line on the terminal, and no stack trace there."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from . import UserInputError

# The line every failed step's log ends with: what the run's problem summary (problems.py) reads.
FAILURE_PREFIX = "EmotionTrack error: "

T = TypeVar("T")
log = logging.getLogger(__name__)


def progress(items: Iterable[T], total: int | None, desc: str, every_s: float = 5.0) -> Iterator[T]:
    """Yield ``items``, logging ``desc: n/total (pct), rate/s`` at most every ``every_s`` seconds
    and ``desc: n done in s, rate/s`` at the end (into the step's log): a long job's log shows
    it is moving. Not tqdm: tqdm's import (its version lookup through importlib.metadata) cost
    ~30 ms of every per-session job's start-up."""
    start = last = time.perf_counter()
    n = 0
    for n, item in enumerate(items, 1):
        yield item
        now = time.perf_counter()
        if now - last >= every_s:
            last = now
            log.info("%s", _progress_line(desc, n, total, now - start))
    seconds = time.perf_counter() - start
    log.info("%s: %d done in %.1f s, %.1f/s", desc, n, seconds, n / max(seconds, 1e-9))


def _progress_line(desc: str, n: int, total: int | None, seconds: float) -> str:
    of = f"/{total} ({100 * n / total:.0f}%)" if total else ""  # total: may be an estimate
    return f"{desc}: {n}{of}, {n / max(seconds, 1e-9):.1f}/s"


def is_disk_full(e: BaseException) -> bool:
    """True for 'no space left on device' (or a quota), also when a library such as HDF5 only
    puts it in the message (h5py raises OSError without errno there)."""
    while e is not None:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(e).lower()
        if "no space left on device" in text or "errno = 28" in text or "disk quota" in text:
            return True
        e = e.__cause__ or e.__context__
    return False


def failure_line(e: BaseException) -> str:
    """One line saying what went wrong: the user error's message, a disk-full notice, or the
    exception's type and first line for anything unexpected."""
    if isinstance(e, UserInputError):
        return str(e)
    if is_disk_full(e):
        name = getattr(e, "filename", None)
        if not name and (m := re.search(r"filename = '([^']+)'", str(e))):  # HDF5's message
            name = m.group(1)
        where = f" while writing {name}" if name else ""
        return (
            f"disk full{where}: free space (or move results/ to a larger disk), then run the "
            "same command again; half-written outputs are removed and redone"
        )
    first = (str(e).strip().splitlines() or [""])[0]
    return f"unexpected {type(e).__name__}: {first}" if first else f"unexpected {type(e).__name__}"


@contextlib.contextmanager
def step_logging(log_path: str, outputs: Iterable[str] = ()) -> Iterator[logging.Logger]:
    """Send stdout/stderr (file descriptors 1 and 2, so C-level output too) and the root logger
    to ``log_path`` for the duration of a step.

    Any exception is written to the log with its full traceback *before* the descriptors are
    restored (so on a cluster, where the log is all there is, it is there), followed by the line
    ``EmotionTrack error: <what>``. A UserInputError or a full disk then prints that line alone on
    the terminal's stderr; any other exception prints it with where the traceback is. The step
    exits with status 1, after removing the half-written ``<output>.part`` file of each of
    ``outputs`` (writers write there, then rename: a crash never leaves a complete-looking
    output)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with (
        open(log_path, "w", buffering=1) as fh,
        contextlib.redirect_stdout(fh),
        contextlib.redirect_stderr(fh),
    ):
        for fd in (1, 2):
            os.dup2(fh.fileno(), fd)
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        failed: BaseException | None = None
        try:
            yield root
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - every failure is logged, then re-raised
            failed = e
            for out in outputs:
                with contextlib.suppress(OSError):
                    Path(f"{out}.part").unlink(missing_ok=True)
            line = failure_line(e)
            with contextlib.suppress(OSError):  # the log itself may be on the full disk
                fh.write("".join(traceback.format_exception(e)))
                root.error("%s", line)
                fh.write(f"{FAILURE_PREFIX}{line}\n")
                fh.flush()
        finally:
            with contextlib.suppress(OSError):
                fh.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
    if failed is not None:
        line = failure_line(failed)
        if not (isinstance(failed, UserInputError) or is_disk_full(failed)):
            line += f" (traceback in {log_path})"
        os.write(2, f"{FAILURE_PREFIX}{line}\n".encode())
        raise SystemExit(1) from None
