"""Logging for workflow steps: everything (logging, warnings, tqdm progress, TF chatter) goes to the
rule's log file; a user-fixable error ends the step with one clear line and no stack trace."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from . import UserInputError


@contextlib.contextmanager
def step_logging(log_path: str) -> Iterator[logging.Logger]:
    """Redirect stdout/stderr and the root logger to ``log_path`` for the duration of a step.
    A UserInputError is written to the log and to the real stderr, then the step exits 1."""
    real_err = sys.stderr
    with (
        open(log_path, "w", buffering=1) as fh,
        contextlib.redirect_stdout(fh),
        contextlib.redirect_stderr(fh),
    ):
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
            print(f"EmotionTrack error: {e}", file=real_err)
            raise SystemExit(1) from None
