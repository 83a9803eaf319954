"""Which method writes a session's ``label`` and trend chart: chosen on validation sessions only.

Candidates are the per-frame CNN, its moving-average and median smoothing, HMM/Viterbi decoding
and every trained sequence model. The one with the best macro-F1 on the face frames of the
``validation`` sessions (annotated sessions used for nothing else) is chosen; without validation
sessions the default (config ``sequence.model``, ``refine`` unless changed) is. The choice is a
declared artifact, ``chosen_method.json``, read by prediction and by the study report; test
sessions play no part in it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .baselines import hmm_viterbi, moving_average, moving_median
from .formats import Predictions, read_features, write_predictions
from .sequence import carry_over, sequence_probabilities

log = logging.getLogger(__name__)


def choose_method(
    validation_sessions: list[dict],
    hmm: dict,
    emotions: list[str],
    out_json: str | Path,
    *,
    default: str,
    smoothing_s: float = 1.0,
) -> dict:
    """Score every candidate on the validation sessions' face frames and write ``out_json``:
    ``method`` (the chosen name), ``label`` (readable), ``reason``, ``validation`` (sessions,
    n_frames, per-method accuracy and macro-F1, ranking; empty without validation sessions),
    ``validation_macro_f1`` of the chosen method (None without), ``smoothing_s`` and ``hmm``
    (start, transitions: what prediction needs to apply the baselines exactly as scored).

    ``validation_sessions`` dicts carry ``session``, ``features``, ``annotation`` and
    ``sequence_predictions`` {model: csv}; ``hmm`` the HMM's parameters estimated on the
    training sessions (:func:`emotiontrack.comparison.hmm_from_training`)."""
    from .comparison import compare_methods, method_label

    choice: dict = {"smoothing_s": smoothing_s, "hmm": hmm}
    if not validation_sessions:
        choice |= {
            "method": default,
            "reason": "the sheet has no validation sessions, so no method could be chosen on "
            "data: the default (config sequence.model)",
            "validation": {},
            "validation_macro_f1": None,
        }
    else:
        result, _, _, _ = compare_methods(
            validation_sessions, hmm, emotions, smoothing_s=smoothing_s
        )
        scores = {
            m: {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"]}
            for m, r in result["methods"].items()
        }
        best = result["ranking_by_macro_f1"][0]
        choice |= {
            "method": best,
            "reason": f"best macro-F1 of {len(scores)} candidates on the {result['n_frames']} "
            f"face frames of the validation sessions ({', '.join(result['sessions'])}), scored "
            "against their annotations; test sessions played no part",
            "validation": {
                "sessions": result["sessions"],
                "n_frames": result["n_frames"],
                "scores": scores,
                "ranking": result["ranking_by_macro_f1"],
            },
            "validation_macro_f1": scores[best]["macro_f1"],
        }
    choice["label"] = method_label(choice["method"])
    Path(out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(out_json).write_text(json.dumps(choice, indent=2, allow_nan=False) + "\n")
    log.info("chosen method: %s (%s)", choice["method"], choice["reason"])
    return choice


def read_choice(path: str | Path) -> dict:
    """The chosen_method.json written by :func:`choose_method`."""
    return json.loads(Path(path).read_text())


def predict_with_method(
    features_h5: str | Path,
    choice_json: str | Path,
    models: dict[str, str],
    out_csv: str | Path,
    emotions: list[str],
    *,
    use_probabilities: bool = False,
    threads: int = 1,
) -> dict:
    """Write the session's prediction timeline (:func:`emotiontrack.formats.write_predictions`)
    from the chosen method: a baseline applied to the CNN probabilities with the settings it was
    scored with, or the sequence model ``models[method]`` (its ONNX export, run on ``threads``
    CPU threads without TensorFlow). Every method's output
    is carried over frames without a face from the last face frame, empty before the first;
    ``cnn_label`` is always the per-frame CNN's. Returns the choice."""
    choice = read_choice(choice_json)
    method = choice["method"]
    data = read_features(features_h5, emotions)
    found = data.face_found
    T, C = len(found), len(emotions)
    probs = np.full((T, C), np.nan, np.float32)
    if found.any():
        cnn = np.where(found[:, None], data.probabilities, np.nan).astype(np.float64)
        window = max(1, round(choice["smoothing_s"] * data.fps))
        if method == "cnn":
            raw = cnn
        elif method == "moving_average":
            raw = moving_average(cnn, window)
        elif method == "median":
            raw = moving_median(cnn, window)
        elif method == "hmm":
            raw = hmm_viterbi(cnn, choice["hmm"])
        elif method in models:
            raw = sequence_probabilities(
                data, models[method], use_probabilities=use_probabilities, threads=threads
            )
        else:
            raise ValueError(f"{choice_json}: chosen method {method!r} has no model here")
        probs = carry_over(np.asarray(raw, np.float32), found)
    write_predictions(out_csv, Predictions.from_probabilities(data, probs))
    return choice


def choice_markdown(choice: dict) -> str:
    """The study report's opening lines: which method made the predictions, why, and its
    validation score."""
    from .comparison import BASELINES, method_label

    lines = [
        f"**Predictions (`label`, trend charts) were made by: {choice['label']}** "
        f"(`{choice['method']}`), chosen because it had the {choice['reason']}."
        if choice["validation"]
        else f"**Predictions (`label`, trend charts) were made by: {choice['label']}** "
        f"(`{choice['method']}`): {choice['reason']}.",
    ]
    v = choice["validation"]
    if v:
        lines += [
            f"Its validation macro-F1: {choice['validation_macro_f1']:.3f}. All candidates on "
            "the validation sessions:",
            "",
            "| Method | Accuracy | Macro-F1 |",
            "|---|---:|---:|",
        ]
        for m in v["ranking"]:
            s = v["scores"][m]
            acc = "–" if s["accuracy"] is None else f"{s['accuracy']:.3f}"
            f1 = "–" if s["macro_f1"] is None else f"{s['macro_f1']:.3f}"
            lines.append(f"| {method_label(m)} | {acc} | {f1} |")
        lines.append("")
    else:
        lines.append(
            "Add annotated sessions with split `validation` to the sheet to choose among the "
            "per-frame CNN, " + ", ".join(BASELINES[b] for b in BASELINES if b != "cnn") + " and "
            "the sequence models on data."
        )
    lines.append(
        "The per-frame CNN's decision is kept beside it in every predictions CSV (`cnn_label`)."
    )
    return "\n".join(lines) + "\n"
