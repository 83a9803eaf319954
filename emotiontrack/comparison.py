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
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from .annotations import load_annotation, truth_at, visible_at
from .baselines import estimate_transitions, hmm_viterbi, moving_average, moving_median
from .evaluate import NO_GROUND_TRUTH, SUBSETS, classification_metrics, plot_confusion
from .formats import read_features, read_predictions, read_pseudolabels

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log = logging.getLogger(__name__)

BASELINES = {
    "cnn": "per-frame CNN (argmax)",
    "moving_average": "CNN + moving average",
    "median": "CNN + moving median",
    "hmm": "CNN + HMM (Viterbi)",
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
            times = read_features(s["features"]).timestamps
            truth = truth_at(load_annotation(s["annotation"], emotions), times)
            seqs.append(np.array([index.get(t, -1) for t in truth]))
            sources.add("annotations")
        else:
            seqs.append(read_pseudolabels(s["pseudolabels"]).label)
            sources.add("pseudo labels")
    return seqs, " and ".join(sorted(sources)) or "none"


def hmm_from_training(train_sessions: list[dict], emotions: list[str]) -> dict:
    """The HMM baseline's parameters, estimated on the training sessions' label sequences
    (:func:`training_sequences`): ``from`` (annotations and/or pseudo labels), ``start`` (C,) and
    ``transitions`` (C, C) probabilities, as lists (what the HMM file and the method choice
    hold)."""
    seqs, source = training_sequences(train_sessions, emotions)
    start, trans = estimate_transitions(seqs, len(emotions))
    return {"from": source, "start": start.tolist(), "transitions": trans.tolist()}


def write_hmm(path: str | Path, hmm: dict) -> None:
    """Write the HMM file (results/models/hmm.json): :func:`hmm_from_training`'s dict."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(hmm, indent=2, allow_nan=False) + "\n")


def read_hmm(path: str | Path) -> dict:
    """The HMM file written by :func:`write_hmm`."""
    hmm = json.loads(Path(path).read_text())
    assert {"from", "start", "transitions"} <= set(hmm), f"{path}: keys {sorted(hmm)}"
    return hmm


def method_probabilities(cnn_probs: np.ndarray, window: int, hmm: dict) -> dict[str, np.ndarray]:
    """(T, C) outputs of the baselines for one session."""
    return {
        "cnn": cnn_probs,
        "moving_average": moving_average(cnn_probs, window),
        "median": moving_median(cnn_probs, window),
        "hmm": hmm_viterbi(cnn_probs, hmm),
    }


def _labels(probs: np.ndarray, emotions: list[str]) -> np.ndarray:
    names = np.array(emotions, dtype=object)
    has = ~np.isnan(probs).any(axis=1)
    return np.where(has, names[np.nan_to_num(probs).argmax(axis=1)], "")


CHOSEN = "chosen"
"""The score table's column of the predictions' own ``label``: the chosen method as applied."""


@dataclass
class FrameScores:
    """Every method's decision on every frame of the annotated sessions, computed once.

    ``table``: one row per sampled frame: ``session``, ``participant``, ``condition``,
    ``time_s``, ``face_found`` (bool), ``visible`` (annotated ``face_visible`` 1/0, NaN where not
    annotated), ``truth`` (the annotated emotion, '' where none), then one column per method in
    ``methods`` with its label ('' = no prediction): ``cnn`` (the CNN's argmax from the features
    file), the baselines, each sequence model, and ``chosen`` (the predictions CSV's ``label``)
    when the sessions have predictions. ``features``: (rows, D) CNN features of the rows.
    ``sessions``: per scored session its names, files and whether visibility was annotated;
    ``skipped``: [{session, reason}] of sessions without an annotation."""

    table: pd.DataFrame
    methods: list[str]
    features: np.ndarray
    sessions: list[dict]
    skipped: list[dict]
    hmm_transitions_from: str


def frame_scores(
    sessions: list[dict],
    hmm: dict,
    emotions: list[str],
    *,
    smoothing_s: float = 1.0,
) -> FrameScores:
    """Score every method on every frame of ``sessions`` (dicts with ``session``, ``features``,
    ``annotation`` (None/'' skips the session), optionally ``participant``, ``condition``,
    ``predictions`` (the chosen method's CSV) and ``sequence_predictions`` {model: csv}).
    ``hmm``: the HMM's parameters estimated on the training sessions
    (:func:`hmm_from_training`); nothing is fit on ``sessions``."""
    parts, feats, scored, skipped = [], [], [], []
    for s in sessions:
        name = str(s.get("session", ""))
        if not s.get("annotation"):
            skipped.append({"session": name, "reason": "no annotation file"})
            continue
        ann = load_annotation(s["annotation"], emotions)
        cnn = read_features(s["features"], emotions)
        visible = visible_at(ann, cnn.timestamps)
        df = pd.DataFrame(
            {
                "session": name,
                "participant": str(s.get("participant", "")),
                "condition": str(s.get("condition", "")),
                "time_s": cnn.timestamps,
                "face_found": cnn.face_found,
                "visible": np.nan if visible is None else visible,
                "truth": truth_at(ann, cnn.timestamps),
            }
        )
        window = max(1, round(smoothing_s * cnn.fps))
        outputs = method_probabilities(cnn.probabilities.astype(np.float64), window, hmm)
        for model, csv in s.get("sequence_predictions", {}).items():
            outputs[model] = read_predictions(csv, emotions).probabilities
        for method, probs in outputs.items():
            df[method] = _labels(probs, emotions)
        if s.get("predictions"):
            chosen = read_predictions(s["predictions"], emotions)
            assert np.array_equal(chosen.face_found, cnn.face_found), (
                f"{s['predictions']} and {s['features']} are not the same session's frames"
            )
            df[CHOSEN] = chosen.label
        parts.append(df)
        feats.append(cnn.features)
        scored.append(
            {
                "session": name,
                "participant": str(s.get("participant", "")),
                "condition": str(s.get("condition", "")),
                "predictions": str(s.get("predictions", "")),
                "annotation": str(s["annotation"]),
                "visibility_annotated": visible is not None,
            }
        )
    methods = [c for c in parts[0].columns[7:]] if parts else ["cnn"]
    assert all(list(p.columns[7:]) == methods for p in parts), "sessions scored different methods"
    empty = pd.DataFrame(columns=["session", "time_s", "face_found", "visible", "truth", *methods])
    return FrameScores(
        table=pd.concat(parts, ignore_index=True) if parts else empty,
        methods=methods,
        features=np.concatenate(feats) if feats else np.zeros((0, 1), np.float32),
        sessions=scored,
        skipped=skipped,
        hmm_transitions_from=hmm["from"],
    )


def compare_methods(
    test_sessions: list[dict],
    hmm: dict,
    emotions: list[str],
    *,
    smoothing_s: float = 1.0,
) -> tuple[dict, dict[str, np.ndarray], list[np.ndarray], list[str]]:
    """Score every method (:func:`frame_scores`, the chosen predictions left out) on the pooled
    face frames with ground truth of ``test_sessions`` and rank them by macro-F1. Returns the
    result dict (``n_frames``, ``sessions``, ``smoothing_s``, ``hmm_transitions_from``,
    ``methods`` {name: metrics}, ``ranking_by_macro_f1``) and, per method, its labels on those
    frames, the CNN features (one array) and the true labels of those frames."""
    sessions = [{k: v for k, v in s.items() if k != "predictions"} for s in test_sessions]
    scores = frame_scores(sessions, hmm, emotions, smoothing_s=smoothing_s)
    t = scores.table
    keep = (t["face_found"].to_numpy(bool) & (t["truth"] != "")).to_numpy()
    y_true = t["truth"].to_numpy(object)[keep]
    pooled = {m: t[m].to_numpy(object)[keep] for m in scores.methods}
    methods = {m: classification_metrics(y_true, p, emotions) for m, p in pooled.items()}
    result = {
        "frames": "face frames of held-out (test) sessions with ground truth",
        "n_frames": int(keep.sum()),
        "sessions": [s["session"] for s in test_sessions],
        "smoothing_s": smoothing_s,
        "hmm_transitions_from": scores.hmm_transitions_from,
        "methods": methods,
        "ranking_by_macro_f1": ranking(methods),
    }
    return result, pooled, [scores.features[keep]], list(y_true)


def ranking(methods: dict[str, dict]) -> list[str]:
    """Method names by macro-F1, best first (a method with none last; ties keep the order)."""
    return sorted(methods, key=lambda m: -(methods[m]["macro_f1"] or 0.0))


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

    from .series import emotion_colors

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
    if name == CHOSEN:
        return "Chosen method"
    return BASELINES.get(name, f"sequence model: {SEQUENCE_LABELS.get(name, name)}")


def plot_comparison(
    methods: dict[str, dict], ranked: list[str], emotions: list[str], out_png: str | Path
) -> None:
    """One row-normalised confusion matrix per method (``methods`` {name: metrics}), in the
    order of ``ranked``, in one figure."""
    import tempfile

    cols = min(4, max(1, len(ranked)))
    rows = -(-len(ranked) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    with tempfile.TemporaryDirectory() as tmp:
        for ax, name in zip(axes.flat, ranked, strict=False):
            r = methods[name]
            png = Path(tmp) / f"{name}.png"
            scores = f"macro-F1 {r['macro_f1'] or 0:.3f}, acc {r['accuracy'] or 0:.3f}"
            title = f"{method_label(name)}\n{scores}"
            plot_confusion(np.array(r["confusion"]), emotions, title, png)
            ax.imshow(plt.imread(png))
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# the study's evaluation: scored once, written once, rendered once
# --------------------------------------------------------------------------------------------


def evaluation_result(
    scores: FrameScores,
    emotions: list[str],
    *,
    n_sessions: int,
    smoothing_s: float,
    choice: dict | None = None,
    cnn: str = "",
    excluded: dict[str, str] | None = None,
) -> dict:
    """The content of metrics.json, from the score table: ``emotions``, ``n_sessions``,
    ``sessions_evaluated``, ``sessions_skipped``, ``excluded_sessions``, ``cnn`` (which
    per-frame CNN), ``chosen_method`` (the choice, :mod:`emotiontrack.choice`, or None),
    ``methods`` (every method scored, ``chosen`` = the predictions' ``label``), the metrics of
    :func:`emotiontrack.evaluate.evaluation_metrics` (``pooled.face_frames.<method>``, ...) and
    ``comparison`` (the face frames every method is scored on, ``ranking_by_macro_f1`` of the
    methods, the chosen predictions left out)."""
    from .evaluate import evaluation_metrics

    metrics = evaluation_metrics(scores.table, scores.methods, scores.sessions, emotions)
    face = metrics["pooled"]["face_frames"]
    candidates = {m: face[m] for m in scores.methods if m != CHOSEN}
    return {
        "emotions": list(emotions),
        "n_sessions": n_sessions,
        "sessions_evaluated": [s["session"] for s in scores.sessions],
        "sessions_skipped": scores.skipped,
        "excluded_sessions": [{"session": s, "reason": r} for s, r in (excluded or {}).items()],
        "cnn": cnn,
        "chosen_method": choice,
        "methods": scores.methods,
        **metrics,
        "comparison": {
            "frames": "face frames of held-out (test) sessions with ground truth",
            "n_frames": face["n"],
            "sessions": [s["session"] for s in scores.sessions],
            "smoothing_s": smoothing_s,
            "hmm_transitions_from": scores.hmm_transitions_from,
            "ranking_by_macro_f1": ranking(candidates) if metrics["has_ground_truth"] else [],
        },
    }


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") or "–"


def _signed(x: float, digits: int = 3) -> str:
    return f"{x:+.{digits}f}"


def render_summary(result: dict, template: str | Path, figures: dict[str, str]) -> str:
    """The Markdown report of an evaluation ``result`` (:func:`evaluation_result`) from the Jinja2
    ``template`` (``report/evaluation_summary.md.jinja``); ``figures``: the PNGs' paths as the
    Markdown links them (``cnn``, ``chosen``, ``comparison``, ``embedding``)."""
    import jinja2

    from .choice import choice_markdown

    template = Path(template)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template.parent),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(f=_f, pct=_pct, cell=_cell, signed=_signed, label=method_label)
    choice = result["chosen_method"]
    return env.get_template(template.name).render(
        r=result,
        choice=choice_markdown(choice) if choice else "",
        figures=figures,
        subsets=SUBSETS,
        no_ground_truth=NO_GROUND_TRUTH,
    )


def evaluate_and_compare(
    test_sessions: list[dict],
    hmm: dict,
    emotions: list[str],
    out_json: str | Path,
    out_md: str | Path,
    out_cnn_png: str | Path,
    out_chosen_png: str | Path,
    out_comparison_png: str | Path,
    out_embedding_png: str | Path,
    *,
    template: str | Path,
    choice_json: str | Path | None = None,
    cnn: str = "",
    smoothing_s: float = 1.0,
    embedding: str = "tsne",
    seed: int = 0,
    excluded: dict[str, str] | None = None,
) -> dict:
    """The study's evaluation of the held-out sessions, against their annotations: every
    method's decision per frame (:func:`frame_scores`, once), their metrics
    (:func:`evaluation_result`) written to ``out_json``, the Markdown report rendered from
    ``template`` (:func:`render_summary`) to ``out_md``, the confusion matrices of the per-frame
    CNN and of the chosen predictions, every method's matrix ranked (``out_comparison_png``) and
    a 2-D embedding of the CNN features coloured by truth.

    ``test_sessions`` dicts carry ``session``, ``participant``, ``condition``, ``predictions``
    (the chosen method's), ``features``, ``annotation`` and ``sequence_predictions``
    {model: csv}; ``hmm`` the HMM's parameters (:func:`hmm_from_training`, estimated on the
    training sessions). ``excluded``: {session: why} of sessions left out of the study
    (``bad_videos: exclude``), listed first in the report. ``choice_json`` (the method choice,
    :mod:`emotiontrack.choice`) names which method made the predictions and why; ``cnn`` says
    which per-frame CNN was used. Returns the result written to ``out_json``."""
    from .choice import read_choice
    from .evaluate import _placeholder_png, _to_jsonable

    scores = frame_scores(test_sessions, hmm, emotions, smoothing_s=smoothing_s)
    choice = read_choice(choice_json) if choice_json is not None else None
    result = evaluation_result(
        scores,
        emotions,
        n_sessions=len(test_sessions),
        smoothing_s=smoothing_s,
        choice=choice,
        cnn=cnn,
        excluded=excluded,
    )
    md_dir = Path(out_md).parent.resolve()
    paths = {
        "cnn": out_cnn_png,
        "chosen": out_chosen_png,
        "comparison": out_comparison_png,
        "embedding": out_embedding_png,
    }
    figures = {
        k: Path(os.path.relpath(Path(p).resolve(), md_dir)).as_posix() for k, p in paths.items()
    }
    result["outputs"] = {f"{k}_png": v for k, v in figures.items()}

    face = result["pooled"]["face_frames"]
    for key, out in (("cnn", out_cnn_png), (CHOSEN, out_chosen_png)):
        title = f"{method_label(key)} vs ground truth — face frames"
        m = face.get(key)
        if m is None or m["n"] == 0:
            why = NO_GROUND_TRUTH if not result["has_ground_truth"] else "no face frames"
            _placeholder_png(out, title, f"{why}:\nnothing to evaluate")
            continue
        extra = m["no_prediction"] if any(m["no_prediction"]) else None
        plot_confusion(m["confusion"], emotions, title, out, True, extra)
    ranked = result["comparison"]["ranking_by_macro_f1"]
    if ranked:
        plot_comparison(face, ranked, emotions, out_comparison_png)
    else:
        _placeholder_png(out_comparison_png, "all methods", f"{NO_GROUND_TRUTH}")
    keep = (scores.table["face_found"].to_numpy(bool) & (scores.table["truth"] != "")).to_numpy()
    result["comparison"]["embedding"] = plot_embedding(
        scores.features[keep],
        list(scores.table["truth"][keep]),
        emotions,
        out_embedding_png,
        method=embedding,
        seed=seed,
    )

    result = _to_jsonable(result)
    Path(out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(out_json).write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    Path(out_md).write_text(render_summary(result, template, figures), encoding="utf-8")
    if ranked:
        log.info("best method by macro-F1 on held-out frames: %s", ranked[0])
    return result
