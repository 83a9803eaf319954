"""Small plots shared by the reports (training curves)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_training_curves(history: pd.DataFrame, out_png: str | Path, title: str = "") -> None:
    """Loss and accuracy per epoch for training and validation, side by side."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    if history.empty:
        a.text(0.5, 0.5, "no training history\n(pretrained model)", ha="center", va="center")
        b.axis("off")
    x = history["epoch"] if "epoch" in history else range(1, len(history) + 1)
    for ax, key in ((a, "loss"), (b, "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            col = prefix + key
            if col in history:
                ax.plot(x, history[col], style, marker="o", ms=3, label=col.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
