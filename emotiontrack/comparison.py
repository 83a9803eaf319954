"""Does temporal modelling help? Every method scored on the same frames of held-out sessions.

Methods, all judged against the human annotation (never against pseudo labels), on the frames of
held-out (test) sessions where a face was found:

- ``cnn``: per-frame CNN argmax;
- ``moving_average`` / ``median``: the CNN probabilities smoothed over a centred window;
- ``hmm``: Viterbi decoding of the CNN probabilities with transitions estimated on the training
  sessions (their annotations where they have one, else their pseudo labels);
- one entry per sequence model (``refine``, ``lstm``, ``bilstm``, ``attention``,
  ``autoencoder``), read from its prediction timelines.

The ranking is by macro-F1, as measured; nothing is fit on the test sessions.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import matplotlib
import numpy as np
import pandas as pd

from .baselines import estimate_transitions, moving_average, moving_median, viterbi
from .evaluate import classification_metrics, load_annotation, plot_confusion, truth_at

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log = logging.getLogger(__name__)

BASELINES = {
    "cnn": "per-frame CNN (argmax)",
    "moving_average": "CNN + moving average",
    "median": "CNN + moving median",
    "hmm": "CNN + HMM (Viterbi)",
}


def read_session(features_h5: str | Path) -> dict:
    """CNN outputs of one session: probabilities (T, C; NaN without face), features (T, D),
    face_found (T,), timestamps (T,) seconds, fps."""
    with h5py.File(features_h5, "r") as h5:
        return {
            "probabilities": h5["probabilities"][...].astype(np.float64),
            "features": h5["features"][...],
            "face_found": h5["face_found"][...],
            "timestamps": h5["timestamps"][...],
            "fps": float(h5.attrs.get("fps", 5.0)) or 5.0,
        }


def training_sequences(
    train_sessions: list[dict], emotions: list[str]
) -> tuple[list[np.ndarray], str]:
    """Label sequences (emotion indices per sampled frame, -1 unknown) of the training sessions
    for the HMM: from each session's annotation when it has one, else its pseudo labels."""
    index = {e: i for i, e in enumerate(emotions)}
    seqs, sources = [], set()
    for s in train_sessions:
        if s.get("annotation"):
            times = read_session(s["features"])["timestamps"]
            truth = truth_at(load_annotation(s["annotation"], emotions), times)
            seqs.append(np.array([index.get(t, -1) for t in truth]))
            sources.add("annotations")
        else:
            seqs.append(np.load(s["pseudolabels"])["label"])
            sources.add("pseudo labels")
    return seqs, " and ".join(sorted(sources)) or "none"


def method_probabilities(
    cnn_probs: np.ndarray, window: int, start: np.ndarray, trans: np.ndarray
) -> dict[str, np.ndarray]:
    """(T, C) outputs of the baselines for one session."""
    return {
        "cnn": cnn_probs,
        "moving_average": moving_average(cnn_probs, window),
        "median": moving_median(cnn_probs, window),
        "hmm": viterbi(cnn_probs, start, trans),
    }


def _labels(probs: np.ndarray, emotions: list[str]) -> np.ndarray:
    names = np.array(emotions, dtype=object)
    has = ~np.isnan(probs).any(axis=1)
    return np.where(has, names[np.nan_to_num(probs).argmax(axis=1)], "")


def compare_methods(
    test_sessions: list[dict],
    train_sessions: list[dict],
    emotions: list[str],
    *,
    smoothing_s: float = 1.0,
    seed: int = 0,
) -> tuple[dict, dict[str, np.ndarray], list[np.ndarray], list[str]]:
    """Score every method on the pooled face frames of ``test_sessions`` (dicts with
    ``session``, ``features``, ``annotation``, ``sequence_predictions`` {model: csv}).
    Returns the result dict and, for plotting, the pooled predictions per method plus the CNN
    features and true labels of the scored frames."""
    seqs, source = training_sequences(train_sessions, emotions)
    start, trans = estimate_transitions(seqs, len(emotions))
    truth_all: list[np.ndarray] = []
    preds: dict[str, list[np.ndarray]] = {}
    feats: list[np.ndarray] = []
    fps = 5.0
    for s in test_sessions:
        data = read_session(s["features"])
        fps = data["fps"]
        truth = truth_at(load_annotation(s["annotation"], emotions), data["timestamps"])
        keep = data["face_found"] & np.isin(truth, emotions)
        window = max(1, round(smoothing_s * fps))
        outputs = method_probabilities(data["probabilities"], window, start, trans)
        for model, csv in s["sequence_predictions"].items():
            df = pd.read_csv(csv)
            outputs[model] = df[emotions].to_numpy(dtype=np.float64)
        for name, probs in outputs.items():
            preds.setdefault(name, []).append(_labels(probs, emotions)[keep])
        truth_all.append(truth[keep])
        feats.append(data["features"][keep])
    y_true = np.concatenate(truth_all) if truth_all else np.array([], dtype=object)
    pooled = {name: np.concatenate(p) for name, p in preds.items()}
    methods = {name: classification_metrics(y_true, p, emotions) for name, p in pooled.items()}
    ranking = sorted(methods, key=lambda m: -(methods[m]["macro_f1"] or 0.0))
    result = {
        "frames": "face frames of held-out (test) sessions with ground truth",
        "n_frames": int(len(y_true)),
        "sessions": [s["session"] for s in test_sessions],
        "smoothing_s": smoothing_s,
        "hmm_transitions_from": source,
        "methods": methods,
        "ranking_by_macro_f1": ranking,
    }
    return result, pooled, feats, list(y_true)


def plot_embedding(
    features: np.ndarray,
    labels: list[str],
    emotions: list[str],
    out_png: str | Path,
    *,
    method: str = "tsne",
    seed: int = 0,
) -> str:
    """2-D t-SNE (or PCA) of CNN features, one colour per true emotion. Returns the method used
    (PCA when there are too few frames for t-SNE)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    from .trends import emotion_colors

    fig, ax = plt.subplots(figsize=(8, 7))
    used = method
    if len(features) < 3:
        ax.text(0.5, 0.5, "too few frames with ground truth", ha="center", transform=ax.transAxes)
        used = "none"
    else:
        x = features.astype(np.float64)
        if method == "tsne" and len(x) >= 30:
            perplexity = min(30.0, (len(x) - 1) / 3)
            xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
        else:
            used = "pca"
            xy = PCA(2, random_state=seed).fit_transform(x)
        colors = emotion_colors(emotions)
        lab = np.array(labels)
        for e in emotions:
            sel = lab == e
            if sel.any():
                ax.scatter(*xy[sel].T, s=10, alpha=0.7, color=colors[e], label=f"{e} ({sel.sum()})")
        ax.legend(title="ground truth", loc="best", fontsize=8)
    ax.set_title(f"CNN features of held-out face frames ({used.upper()}), coloured by truth")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return used


SEQUENCE_LABELS = {"refine": "refine (the CNN refined over the session)"}


def method_label(name: str) -> str:
    """A method's readable name in tables and figures."""
    return BASELINES.get(name, f"sequence model: {SEQUENCE_LABELS.get(name, name)}")


def _f1(x: float | None) -> str:
    """An F1 cell: two decimals, or '–' where the class had no frame to score."""
    return "–" if x is None else f"{x:.2f}"


def comparison_markdown(result: dict) -> str:
    """The comparison section of the study report."""
    m = result["methods"]
    lines = [
        "## Does temporal modelling help? All methods on the same frames",
        "",
        f"{result['n_frames']} face frames of the held-out sessions "
        f"({', '.join(result['sessions'])}), each scored against its ground-truth annotation. "
        f"Smoothing window {result['smoothing_s']} s; HMM transitions estimated from the "
        f"training sessions' {result['hmm_transitions_from']}. Ranked by macro-F1, as measured.",
        "",
        "| Rank | Method | Accuracy | Macro-F1 | Δ macro-F1 vs CNN (points) |",
        "|---:|---|---:|---:|---:|",
    ]
    base = m["cnn"]["macro_f1"] or 0.0
    for i, name in enumerate(result["ranking_by_macro_f1"], 1):
        r = m[name]
        if r["accuracy"] is None:
            lines.append(f"| {i} | {method_label(name)} | – | – | – |")
            continue
        lines.append(
            f"| {i} | {method_label(name)} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | "
            f"{100 * (r['macro_f1'] - base):+.1f} |"
        )
    emotions = list(next(iter(m.values()))["per_class"])
    lines += [
        "",
        "Per-class F1:",
        "",
        "| Method | " + " | ".join(emotions) + " |",
        "|---|" + "---:|" * len(emotions),
    ]
    for name in result["ranking_by_macro_f1"]:
        pc = m[name]["per_class"]
        lines.append(
            f"| {method_label(name)} | " + " | ".join(_f1(pc[e]["f1"]) for e in emotions) + " |"
        )
    lines += [
        "",
        "![confusion matrices](comparison.png)",
        "",
        "![features](features_embedding.png)",
    ]
    return "\n".join(lines) + "\n"


def plot_comparison(result: dict, emotions: list[str], out_png: str | Path) -> None:
    """One row-normalised confusion matrix per method, ranked, in one figure."""
    import tempfile

    names = result["ranking_by_macro_f1"]
    cols = min(4, max(1, len(names)))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    with tempfile.TemporaryDirectory() as tmp:
        for ax, name in zip(axes.flat, names, strict=False):
            r = result["methods"][name]
            png = Path(tmp) / f"{name}.png"
            scores = f"macro-F1 {r['macro_f1'] or 0:.3f}, acc {r['accuracy'] or 0:.3f}"
            title = f"{method_label(name)}\n{scores}"
            plot_confusion(np.array(r["confusion"]), emotions, title, png)
            ax.imshow(plt.imread(png))
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def evaluate_and_compare(
    test_sessions: list[dict],
    train_sessions: list[dict],
    emotions: list[str],
    out_json: str | Path,
    out_md: str | Path,
    out_cnn_png: str | Path,
    out_sequence_png: str | Path,
    out_comparison_png: str | Path,
    out_embedding_png: str | Path,
    *,
    choice_json: str | Path | None = None,
    cnn: str = "",
    smoothing_s: float = 1.0,
    embedding: str = "tsne",
    seed: int = 0,
    excluded: dict[str, str] | None = None,
) -> dict:
    """The study's evaluation report: the per-frame CNN against the chosen sequence model
    (:func:`emotiontrack.evaluate.evaluate_study`: both subsets, coverage, detection, per-session
    tables) followed by the comparison of every method on the same frames, and a 2-D embedding
    of the CNN features coloured by truth. ``test_sessions`` dicts carry ``session``,
    ``participant``, ``condition``, ``predictions`` (chosen model), ``features``, ``annotation``
    and ``sequence_predictions`` {model: csv}; ``train_sessions`` dicts ``features``,
    ``annotation`` (may be empty) and ``pseudolabels``. ``excluded``: {session: why} of sessions
    left out of the study (``bad_videos: exclude``), listed first in the report. ``choice_json``
    (the method choice, :mod:`emotiontrack.choice`) opens the report: which method made the
    predictions and why; ``cnn`` says which per-frame CNN was used."""
    from .evaluate import evaluate_study

    result = evaluate_study(
        test_sessions, emotions, out_json, out_md, out_cnn_png, out_sequence_png
    )
    if excluded:
        _list_excluded(result, excluded, out_json, out_md)
    if choice_json is not None:
        from .choice import choice_markdown, read_choice

        choice = read_choice(choice_json)
        title, _, rest = Path(out_md).read_text().partition("\n")
        used = f"The per-frame CNN is {cnn}.\n" if cnn else ""
        Path(out_md).write_text(f"{title}\n\n{choice_markdown(choice)}{used}{rest}")
        result["chosen_method"] = choice
        Path(out_json).write_text(json.dumps(result, indent=2, allow_nan=False))
    if not test_sessions:
        for png in (out_comparison_png, out_embedding_png):
            plot_embedding(np.zeros((0, 1)), [], emotions, png)
        return result
    comparison, _, feats, y_true = compare_methods(
        test_sessions, train_sessions, emotions, smoothing_s=smoothing_s, seed=seed
    )
    plot_comparison(comparison, emotions, out_comparison_png)
    feats_all = np.concatenate(feats) if feats else np.zeros((0, 1))
    comparison["embedding"] = plot_embedding(
        feats_all, y_true, emotions, out_embedding_png, method=embedding, seed=seed
    )
    result["comparison"] = comparison
    Path(out_json).write_text(json.dumps(result, indent=2, allow_nan=False))
    with open(out_md, "a") as fh:
        fh.write("\n" + comparison_markdown(comparison))
    best = comparison["ranking_by_macro_f1"][0]
    log.info("best method by macro-F1 on held-out frames: %s", best)
    return result


def _list_excluded(result: dict, excluded: dict[str, str], out_json, out_md) -> None:
    """Put the sessions left out of the study first in the report, and in its JSON."""
    from .evaluate import _to_jsonable

    result["excluded_sessions"] = [{"session": s, "reason": r} for s, r in excluded.items()]
    Path(out_json).write_text(json.dumps(_to_jsonable(result), indent=2, allow_nan=False))
    head = [
        f"**{len(excluded)} session(s) left out of this study** (`bad_videos: exclude`; also in "
        "`results/problems.tsv`):",
        "",
        *[f"- {s}: {r}" for s, r in excluded.items()],
        "",
        "",
    ]
    md = Path(out_md)
    md.write_text("\n".join(head) + md.read_text(encoding="utf-8"), encoding="utf-8")
