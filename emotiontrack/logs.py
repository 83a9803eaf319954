"""Logging for workflow steps: everything (logging, warnings, tqdm progress, and what C libraries
such as TensorFlow and OpenCV write straight to file descriptors 1 and 2) goes to the rule's log
file; a user-fixable error ends the step with one clear line and no stack trace."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from . import UserInputError


@contextlib.contextmanager
def step_logging(log_path: str) -> Iterator[logging.Logger]:
    """Send stdout/stderr (file descriptors 1 and 2, so C-level output too) and the root logger
    to ``log_path`` for the duration of a step. A UserInputError is written to the log and, as one
    line, to the terminal's stderr; then the step exits with status 1."""
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
        try:
            yield root
        except UserInputError as e:
            root.error("%s", e)
            os.write(saved[2], f"EmotionTrack error: {e}\n".encode())
            raise SystemExit(1) from None
        finally:
            fh.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
