"""TensorFlow set-up for the steps that train or export a model: threads, seeds, determinism."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def configure_tf(threads: int = 1, seed: int = 0) -> None:
    """Make TensorFlow use ``threads`` intra-op threads (the rule's ``threads``), seed Python,
    NumPy and TF, and ask for deterministic ops. Call before building any model."""
    import keras
    import tensorflow as tf

    threads = max(1, int(threads))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:  # already initialised in this process (tests): keep the pools
        pass
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def history_table(history: dict[str, list[float]]):
    """A Keras ``History.history`` as a table, one row per epoch (column ``epoch`` from 1), the
    classification head's metrics under plain names ("probabilities_accuracy" -> "accuracy"; a
    head's own loss keeps its name when the total is also called "loss", with two heads)."""
    import numpy as np
    import pandas as pd

    def plain(c: str) -> str:
        return c if c.replace("probabilities_", "") in history else c.replace("probabilities_", "")

    h = pd.DataFrame(history).rename(columns=plain)
    h.insert(0, "epoch", np.arange(1, len(h) + 1))
    return h
