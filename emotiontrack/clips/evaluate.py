"""Evaluation per clip on a clip set's ``test`` split (held-out subjects): the clip models, two
baselines, their comparison, and the valence/arousal regression.

Every method first writes its predictions, then they are all scored the same way
(:func:`score_predictions`):

- ``predictions/{method}.tsv``: one row per test clip, ``clip_id``, ``subject``, ``true``,
  ``predicted`` (empty: no prediction, e.g. no face in any frame, counted wrong), then one
  probability column ``p_<class>`` per class; a first line ``# notes: {json}`` says how the
  method made them (:func:`write_clip_predictions`, :func:`read_clip_predictions`). A clip
  model's are written by its training job once the model is saved
  (:func:`predict_test_clips`: the test clips are never seen in training), the baselines' by
  :func:`baseline_predictions`;
- ``eval/{method}.json``: accuracy, macro-F1 (over the classes present in the test clips),
  per-class precision/recall/F1/support and the confusion matrix
  (:func:`emotiontrack.evaluate.classification_metrics`);
- ``eval/{method}_confusion.png`` and ``eval/{method}_per_class.tsv``.

Baselines: ``majority`` predicts the most frequent class of the train split for every clip;
``frame-cnn`` averages the workflow's per-frame CNN probabilities over a clip's present frames
and maps its emotions onto the clip classes by name (a clip class that is none of the CNN's
emotions gets probability 0; with fewer than two classes mapped the baseline is skipped, and
its files say why).

Valence/arousal (:func:`evaluate_valence_arousal`): RMSE and Lin's concordance correlation
coefficient (CCC) of predicted against true per-clip mean valence and arousal on -1..1.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluate import _to_jsonable, classification_metrics, plot_confusion
from ..formats import ClipSet, read_clips
from ..labels import canonical
from .inputs import BASELINES, clip_mean_va, model_inputs
from .loaders import CREMAD_CLASSES

log = logging.getLogger(__name__)

# CREMA-D's emotion codes (file names: 1001_DFA_ANG_XX), lower-cased, and the emotions they mean
CREMAD_CODES = {k.lower(): v for k, v in CREMAD_CLASSES.items()}
FIXED_COLUMNS = ["clip_id", "subject", "true", "predicted"]


# --------------------------------------------------------------------------------------------
# predictions TSV: one writer, one reader
# --------------------------------------------------------------------------------------------


def write_clip_predictions(
    path: str | Path,
    cs: ClipSet,
    probabilities: np.ndarray,
    has_prediction: np.ndarray | None = None,
    notes: dict | None = None,
) -> pd.DataFrame:
    """Write the predictions of the clips of ``cs``: ``probabilities`` (N, C) over
    ``cs.classes``; ``predicted`` = argmax, empty where ``has_prediction`` (N,) is False;
    ``notes`` (JSON-able) on the first line."""
    probabilities = np.asarray(probabilities, np.float64).reshape(len(cs), len(cs.classes))
    has = np.ones(len(cs), bool) if has_prediction is None else np.asarray(has_prediction)
    classes = np.asarray(cs.classes, dtype=object)
    df = pd.DataFrame(
        {
            "clip_id": cs.clip_ids,
            "subject": cs.subjects,
            "true": classes[cs.labels],
            "predicted": np.where(has, classes[probabilities.argmax(axis=1)], ""),
        }
    )
    for j, c in enumerate(cs.classes):
        df[f"p_{c}"] = np.where(has, probabilities[:, j].round(5), np.nan)
    with open(path, "w") as f:
        f.write(f"# notes: {json.dumps(_to_jsonable(notes or {}))}\n")
        df.to_csv(f, sep="\t", index=False)
    return df


def read_clip_predictions(path: str | Path) -> tuple[pd.DataFrame, list[str], dict]:
    """A predictions TSV, its classes (from the ``p_<class>`` columns, in order) and its
    notes."""
    with open(path) as f:
        first = f.readline()
        assert first.startswith("# notes: "), f"{path}: not a clip predictions file"
        notes = json.loads(first[len("# notes: ") :])
        df = pd.read_csv(f, sep="\t", dtype={c: str for c in FIXED_COLUMNS}, keep_default_na=False)
    classes = [c[2:] for c in df.columns if c.startswith("p_")]
    for c in classes:
        df[f"p_{c}"] = pd.to_numeric(df[f"p_{c}"].replace("", np.nan))
    return df, classes, notes


# --------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------


def score_predictions(
    predictions_tsv: str | Path,
    method: str,
    out_json: str | Path,
    out_png: str | Path,
    out_per_class: str | Path,
) -> dict:
    """Score a predictions TSV against its ``true`` column; write the metrics JSON (``method``,
    ``n_test_clips``, ``test_subjects``, accuracy, macro-F1, per-class, confusion, and the
    file's notes), the confusion matrix PNG and the per-class TSV (class, precision, recall, f1,
    support). A method whose notes say ``skipped`` gets files saying why. Returns the
    metrics."""
    df, classes, notes = read_clip_predictions(predictions_tsv)
    if notes.get("skipped"):
        return write_skipped(method, notes["skipped"], out_json, out_png, out_per_class)
    m = classification_metrics(list(df["true"]), list(df["predicted"]), classes)
    metrics = {
        "method": method,
        "n_test_clips": int(len(df)),
        "test_subjects": sorted(set(df["subject"])),
        **m,
        **notes,
    }
    Path(out_json).write_text(json.dumps(_to_jsonable(metrics), indent=2) + "\n")
    plot_confusion(
        m["confusion"],
        classes,
        f"{method}: test clips (held-out subjects)",
        out_png,
        no_prediction=m["no_prediction"] if any(m["no_prediction"]) else None,
    )
    pd.DataFrame([{"class": c, **v} for c, v in m["per_class"].items()]).to_csv(
        out_per_class, sep="\t", index=False, float_format="%.4f"
    )
    log.info("%s: accuracy %s, macro-F1 %s", method, m["accuracy"], m["macro_f1"])
    return metrics


def write_skipped(method: str, reason: str, out_json, out_png, out_per_class) -> dict:
    """The files of a method that cannot be applied to this set, each saying ``reason``."""
    from ..evaluate import _placeholder_png

    metrics = {"method": method, "skipped": reason, "accuracy": None, "macro_f1": None}
    Path(out_json).write_text(json.dumps(metrics, indent=2) + "\n")
    _placeholder_png(out_png, f"{method}: skipped", reason)
    pd.DataFrame(columns=["class", "precision", "recall", "f1", "support"]).to_csv(
        out_per_class, sep="\t", index=False
    )
    log.warning("%s skipped: %s", method, reason)
    return metrics


# --------------------------------------------------------------------------------------------
# the methods' probabilities on the test clips
# --------------------------------------------------------------------------------------------


def predict_test_clips(model, cs: ClipSet, out_tsv: str | Path, input_size: int) -> None:
    """Write a trained clip model's predictions of the test clips of ``cs`` (a Keras model in
    memory: its training job calls this once the model is saved). A classifier writes the
    predictions TSV; a valence/arousal model (output ``valence_arousal``) writes
    :func:`write_va_predictions`'s."""
    test = cs.subset("test")
    x = model_inputs(test, model.name, input_size)
    out = model.predict(x, batch_size=16, verbose=0) if len(test) else None
    if "valence_arousal" in model.output:
        pred = np.zeros((0, 2)) if out is None else np.asarray(out["valence_arousal"])
        write_va_predictions(out_tsv, test, pred, model.name)
        return
    probs = np.zeros((0, len(cs.classes))) if out is None else np.asarray(out["probabilities"])
    write_clip_predictions(out_tsv, test, probs, notes={"model": model.name})


def majority_probabilities(train: ClipSet, test: ClipSet) -> np.ndarray:
    """(N, C) one-hot: every test clip gets the train split's most frequent class (the lowest
    class index among ties)."""
    counts = np.bincount(train.labels, minlength=len(train.classes))
    out = np.zeros((len(test), len(test.classes)))
    out[:, int(np.argmax(counts))] = 1.0
    return out


def class_to_emotion(classes: list[str], emotions: list[str]) -> dict[int, int]:
    """Clip class index -> CNN emotion index, for the classes that name one of ``emotions``
    (canonical names: ``anger`` = ``angry``; CREMA-D's codes ``ANG`` ... ``SAD`` too)."""
    index = {canonical(e): i for i, e in enumerate(emotions)}
    out = {}
    for j, c in enumerate(classes):
        key = canonical(c)
        key = CREMAD_CODES.get(key, key)
        if key in index:
            out[j] = index[key]
    return out


def frame_cnn_probabilities(
    test: ClipSet,
    cnn: str | Path | tuple,
    emotions: list[str],
    crop: str | Path | None = None,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """The per-frame CNN's clip probabilities: its softmax averaged over each clip's present
    frames, mapped onto the clip classes (:func:`class_to_emotion`) and renormalised over the
    mapped ones. ``cnn``: the CNN's ONNX export, run without TensorFlow, or
    :func:`emotiontrack.features.load_cnn`'s result. ``crop``: the CNN's crop geometry sidecar,
    cut from the set's stored crops when they were cut by the face finder with a margin (attr
    ``margin`` > 0) as the features job does; otherwise (and without ``crop``) the stored crops
    are resized to its input whole. Returns ((N, C) probabilities, (N,) has_prediction (a clip
    with no present frame has none), {class: emotion} mapping)."""
    from ..crops import classify, model_crops, read_geometry
    from ..features import classify_crops, load_cnn

    run, size, n_classes, _, _ = cnn if isinstance(cnn, tuple) else load_cnn(cnn, threads)
    margin = float(test.attrs.get("margin", 0.0))
    geometry = read_geometry(crop) if crop and margin > 0 else None
    if n_classes != len(emotions):
        raise ValueError(f"{cnn}: {n_classes} outputs but {len(emotions)} emotions")
    mapping = class_to_emotion(list(test.classes), emotions)
    cols = sorted(mapping)
    out = np.zeros((len(test), len(test.classes)))
    has = test.present.any(axis=1)
    for i in np.flatnonzero(has):
        faces = test.faces[i][test.present[i]]
        if geometry is None:
            _, p = classify_crops(run, size, faces)
        else:
            _, p = classify(run, model_crops(faces, margin, geometry), geometry)
        mean = p.mean(axis=0)
        mapped = mean[[mapping[j] for j in cols]]
        out[i, cols] = mapped / max(mapped.sum(), 1e-12)
    names = {test.classes[j]: emotions[e] for j, e in mapping.items()}
    return out, has, names


def baseline_predictions(
    clips_h5: str | Path,
    method: str,
    out_tsv: str | Path,
    *,
    cnn: str | Path | tuple | None = None,
    emotions: list[str] | None = None,
    crop: str | Path | None = None,
    threads: int = 1,
) -> pd.DataFrame:
    """Write a baseline's predictions of the test clips of ``clips_h5``: ``majority``, or
    ``frame-cnn`` (``cnn``: the CNN's ONNX export, ``emotions``: its outputs, ``crop``: its crop
    geometry; see :func:`frame_cnn_probabilities`)."""
    cs = read_clips(clips_h5)
    test = cs.subset("test")
    if method == "majority":
        probs = majority_probabilities(cs.subset("train"), test)
        predicts = cs.classes[int(np.argmax(np.bincount(cs.subset("train").labels)))]
        return write_clip_predictions(out_tsv, test, probs, notes={"predicts": predicts})
    if method != "frame-cnn":
        raise ValueError(f"unknown baseline {method!r}; one of {', '.join(BASELINES)}")
    mapped = class_to_emotion(list(cs.classes), emotions or [])
    if len(mapped) < 2:
        reason = (
            f"the per-frame CNN's emotions ({', '.join(emotions or [])}) name "
            f"{len(mapped)} of the clip classes ({', '.join(cs.classes)}): nothing to compare"
        )
        log.warning("frame-cnn skipped: %s", reason)
        return write_clip_predictions(
            out_tsv, test, np.zeros((len(test), len(cs.classes))), np.zeros(len(test), bool),
            notes={"skipped": reason},
        )  # fmt: skip
    probs, has, names = frame_cnn_probabilities(test, cnn, emotions, crop, threads)
    notes = {
        "class_to_emotion": names,
        "unmapped_classes": [c for c in cs.classes if c not in names],
    }
    return write_clip_predictions(out_tsv, test, probs, has, notes)


# --------------------------------------------------------------------------------------------
# valence / arousal
# --------------------------------------------------------------------------------------------


def ccc(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Lin's concordance correlation coefficient, 2 cov / (var_t + var_p + (mean_t - mean_p)^2)
    (population moments): 1 = perfect agreement, 0 = none; NaN for fewer than 2 values."""
    t, p = np.asarray(truth, np.float64), np.asarray(predicted, np.float64)
    if len(t) < 2:
        return float("nan")
    cov = np.mean((t - t.mean()) * (p - p.mean()))
    den = t.var() + p.var() + (t.mean() - p.mean()) ** 2
    return float(2 * cov / den) if den > 0 else float("nan")


def valence_arousal_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """(N, 2) true and predicted (valence, arousal) -> {valence: {rmse, ccc}, arousal: ...}."""
    out = {}
    for j, name in enumerate(("valence", "arousal")):
        t, p = truth[:, j], predicted[:, j]
        out[name] = {
            "rmse": float(np.sqrt(np.mean((t - p) ** 2))) if len(t) else None,
            "ccc": ccc(t, p),
        }
    return out


def write_va_predictions(path: str | Path, cs: ClipSet, predicted: np.ndarray, model: str) -> None:
    """Per clip of ``cs``: ``clip_id``, ``subject``, true per-clip mean ``valence`` and
    ``arousal`` (empty without values) and the ``predicted_valence``/``predicted_arousal``
    (N, 2) of regression model ``model`` (named on the first line's notes)."""
    truth = clip_mean_va(cs)
    df = pd.DataFrame({"clip_id": cs.clip_ids, "subject": cs.subjects})
    for j, k in enumerate(("valence", "arousal")):
        df[k] = truth[:, j].round(5)
        df[f"predicted_{k}"] = np.asarray(predicted, np.float64).reshape(-1, 2)[:, j].round(5)
    with open(path, "w") as f:
        f.write(f"# notes: {json.dumps({'model': model})}\n")
        df.to_csv(f, sep="\t", index=False)


def evaluate_valence_arousal(
    clips_h5: str | Path, va_predictions: str | Path, out_json: str | Path
) -> dict:
    """Score the regression model's per-clip mean valence and arousal of the test clips
    (``va_predictions``, :func:`write_va_predictions`): RMSE and CCC for each, beside the same
    numbers for the train split's mean (a constant: CCC 0) as the baseline. Clips without
    values are left out (counted in ``n_skipped``). Writes and returns the result."""
    with open(va_predictions) as f:
        notes = json.loads(f.readline()[len("# notes: ") :])
        df = pd.read_csv(f, sep="\t")
    truth = df[["valence", "arousal"]].to_numpy(np.float64)
    pred = df[["predicted_valence", "predicted_arousal"]].to_numpy(np.float64)
    ok = np.isfinite(truth).all(axis=1)
    mean = np.nanmean(clip_mean_va(read_clips(clips_h5, split="train")), axis=0)
    result = {
        "model": notes.get("model"),
        "target": "per-clip mean valence and arousal over present frames, on -1..1",
        "n_test_clips": int(ok.sum()),
        "n_skipped": int((~ok).sum()),
        "test_subjects": sorted(set(df["subject"].astype(str))),
        **valence_arousal_metrics(truth[ok], pred[ok]),
        "baseline_train_mean": valence_arousal_metrics(
            truth[ok], np.broadcast_to(mean, truth[ok].shape)
        ),
    }
    Path(out_json).write_text(json.dumps(_to_jsonable(result), indent=2) + "\n")
    log.info("valence/arousal: %s", result)
    return result


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------


def compare_methods(
    eval_jsons: list[str | Path],
    out_tsv: str | Path,
    out_md: str | Path,
    template: str | Path,
    *,
    dataset: str,
    valence_arousal_json: str | Path | None = None,
) -> pd.DataFrame:
    """One row per method (the clip models, then the baselines; order of ``eval_jsons``):
    accuracy, macro-F1, test clips, and whether its macro-F1 beats the majority baseline's.
    Writes the TSV and the Markdown (``template``, Jinja2, with the valence/arousal numbers
    when given)."""
    import jinja2

    rows = []
    for p in eval_jsons:
        m = json.loads(Path(p).read_text())
        rows.append(
            {
                "method": m["method"],
                "kind": "baseline" if m["method"] in BASELINES else "model",
                "n_test_clips": m.get("n_test_clips"),
                "accuracy": m.get("accuracy"),
                "macro_f1": m.get("macro_f1"),
                "note": m.get("skipped", ""),
            }
        )
    df = pd.DataFrame(rows)
    df["n_test_clips"] = df["n_test_clips"].astype("Int64")
    major = df.loc[df["method"] == "majority", "macro_f1"]
    ref = float(major.iloc[0]) if len(major) and pd.notna(major.iloc[0]) else None
    df["beats_majority"] = [
        "" if (k != "model" or ref is None or f is None) else ("yes" if f > ref else "no")
        for k, f in zip(df["kind"], df["macro_f1"], strict=True)
    ]
    df.to_csv(out_tsv, sep="\t", index=False, float_format="%.4f")
    va = json.loads(Path(valence_arousal_json).read_text()) if valence_arousal_json else None
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(template).parent),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["f"] = lambda v: "–" if v is None or pd.isna(v) else f"{v:.3f}"
    env.filters["n"] = lambda v: "–" if v is None or pd.isna(v) else str(int(v))
    text = env.get_template(Path(template).name).render(
        dataset=dataset, rows=df.to_dict("records"), majority=ref, va=va
    )
    Path(out_md).write_text(text)
    return df
