"""Tests for emotiontrack.evaluate: ground-truth lookup, validation, metrics, report files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from matplotlib.image import imread

from emotiontrack import UserInputError
from emotiontrack.annotations import load_annotation, truth_at, visible_at
from emotiontrack.comparison import (
    evaluate_and_compare,
    evaluation_result,
    frame_scores,
    hmm_from_training,
)
from emotiontrack.evaluate import classification_metrics, plot_confusion
from emotiontrack.formats import Features, Predictions, write_features
from emotiontrack.formats import write_predictions as write_predictions_csv

EMOTIONS = ["angry", "happy", "sad", "neutral"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def write_predictions(path: Path, rows: list[tuple]) -> Path:
    """rows: (time_s, face_found, label, cnn_label); '' = no prediction. Writes the session's
    features file (the CNN's probabilities: one-hot on ``cnn_label`` where a face was found) as
    ``<stem>.h5`` and its predictions CSV (``label``, probabilities uniform where it has one) at
    ``path``; the CSV's ``cnn_label`` is the features file's, as the workflow writes it."""
    t = np.array([r[0] for r in rows], float)
    found = np.array([r[1] for r in rows], bool)
    n, C = len(rows), len(EMOTIONS)
    cnn = np.full((n, C), np.nan, np.float32)
    for i, (_, f, _, c) in enumerate(rows):
        if f:
            cnn[i] = np.eye(C)[EMOTIONS.index(c)] if c else 1 / C
    attrs = {"fps": 10.0}
    x = np.random.default_rng(n).random((n, 2)).astype("f4")
    feats = Features(x, cnn, found, t, np.arange(n), EMOTIONS, attrs)
    write_features(path.with_suffix(".h5"), feats)
    label = np.array([r[2] for r in rows], object)
    probs = np.where((label != "")[:, None], np.full((n, C), 1 / C), np.nan).astype("f4")
    pred = Predictions.from_probabilities(feats, probs)
    pred.label = label
    write_predictions_csv(path, pred)
    return path


def session_of(name: str, predictions: Path, annotation: Path | None, **names) -> dict:
    """The evaluation's description of a session (as rules/common.smk gives it)."""
    return {
        "session": name,
        "participant": names.get("participant", ""),
        "condition": names.get("condition", ""),
        "predictions": predictions,
        "features": predictions.with_suffix(".h5"),
        "annotation": annotation,
    }


def evaluate(sessions: list[dict]) -> dict:
    """metrics.json's content for ``sessions`` (no training sessions: a flat HMM)."""
    scores = frame_scores(sessions, hmm_from_training([], EMOTIONS), EMOTIONS)
    return evaluation_result(scores, EMOTIONS, n_sessions=len(sessions), smoothing_s=1.0)


def assert_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert img.std() > 0.01  # not a blank image
    return img


# ------------------------------------------------------------------------------------------
# ground-truth lookup
# ------------------------------------------------------------------------------------------


@pytest.fixture
def annotation(tmp_path: Path) -> pd.DataFrame:
    path = write(
        tmp_path / "ann.csv",
        """
start_s,end_s,emotion,face_visible
0,1,Happy,1
1,2,sad,0
3,4,NEUTRAL,1
""",
    )
    return load_annotation(path, EMOTIONS)


def test_truth_at_interval_boundaries(annotation: pd.DataFrame) -> None:
    times = np.array([-0.1, 0.0, 0.999, 1.0, 1.999, 2.0, 2.5, 3.0, 4.0, 4.0001, np.nan])
    expected = ["", "happy", "happy", "sad", "sad", "", "", "neutral", "neutral", "", ""]
    # [start, end): 1.0 belongs to the second interval, 2.0 (end before a gap) to none;
    # the last interval is closed, so 4.0 is still 'neutral'. Case is normalised.
    assert truth_at(annotation, times).tolist() == expected


def test_visible_at(annotation: pd.DataFrame) -> None:
    vis = visible_at(annotation, np.array([0.5, 1.0, 2.5, 4.0]))
    assert vis[0] == 1 and vis[1] == 0 and np.isnan(vis[2]) and vis[3] == 1
    no_col = annotation.drop(columns="face_visible")
    assert visible_at(no_col, np.array([0.5])) is None


@pytest.mark.parametrize(
    ("body", "row", "problem"),
    [
        ("start_s,end_s\n0,1", None, "emotion"),
        ("start_s,end_s,emotion\n0,1,happy\nabc,2,sad", "row 2", "start_s must be a finite number"),
        ("start_s,end_s,emotion\n0,1,happy\n1,2,sad\n3,3,sad", "row 3", "less than"),
        ("start_s,end_s,emotion\n0,1,happy\n2,3,sad\n1,2,sad", "row 3", "sorted"),
        ("start_s,end_s,emotion\n0,1,happy\n0.5,2,sad", "row 2", "overlaps"),
        ("start_s,end_s,emotion\n0,1,happy\n1,2,bored", "row 2", "'bored' is not in"),
        ("start_s,end_s,emotion\n0,1,happy\n1,2,", "row 2", "emotion is empty"),
        ("start_s,end_s,emotion,face_visible\n0,1,happy,1\n1,2,sad,2", "row 2", "0 or 1"),
        ("start_s,end_s,emotion", None, "no intervals"),
    ],
)
def test_annotation_validation_names_file_and_row(
    tmp_path: Path, body: str, row: str | None, problem: str
) -> None:
    path = write(tmp_path / "p07_gt.csv", body)
    with pytest.raises(UserInputError) as err:
        load_annotation(path, EMOTIONS)
    msg = str(err.value)
    assert "p07_gt.csv" in msg
    assert problem in msg
    if row is not None:
        assert row in msg


def test_annotation_missing_file_is_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="nope.csv"):
        load_annotation(tmp_path / "nope.csv", EMOTIONS)


def test_predictions_with_unknown_label_are_a_bug(tmp_path: Path) -> None:
    """Predictions are the workflow's own file: a label outside the emotion list is caught by
    the reader's assert, naming the file and the label."""
    ann = write(tmp_path / "ann.csv", "start_s,end_s,emotion\n0,1,happy")
    pred = write_predictions(tmp_path / "pred.csv", [(0.0, 1, "happy", "happy"), (0.5, 1, "x", "")])
    with pytest.raises(AssertionError) as err:
        evaluate([session_of("s", pred, ann)])
    assert "pred.csv" in str(err.value) and "'x'" in str(err.value)


# ------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------


def test_classification_metrics_hand_computed() -> None:
    y_true = ["happy", "happy", "happy", "sad", "sad", "neutral"]
    y_pred = ["happy", "happy", "sad", "sad", "", "happy"]
    m = classification_metrics(y_true, y_pred, EMOTIONS)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["coverage"] == pytest.approx(5 / 6)
    # per class: happy P=2/3 R=2/3; sad P=1/2 R=1/2; neutral 0; angry absent from the truth
    assert m["per_class"]["happy"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["happy"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["sad"]["f1"] == pytest.approx(1 / 2)
    assert m["per_class"]["sad"]["support"] == 2
    assert m["per_class"]["neutral"]["f1"] == 0
    assert m["macro_over"] == ["happy", "sad", "neutral"]
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)  # 7/18, not 7/24
    assert m["confusion"] == [
        [0, 0, 0, 0],
        [0, 2, 1, 0],
        [0, 0, 1, 0],  # the unpredicted 'sad' frame is not in any column ...
        [0, 1, 0, 0],
    ]
    assert m["no_prediction"] == [0, 0, 1, 0]  # ... it is counted here


def test_no_prediction_counts_as_wrong() -> None:
    y_true = ["happy", "happy", "sad", "sad"]
    full = classification_metrics(y_true, ["happy", "happy", "sad", "sad"], EMOTIONS)
    for missing in ("", None, float("nan")):
        m = classification_metrics(y_true, ["happy", "happy", "sad", missing], EMOTIONS)
        assert full["accuracy"] == 1.0
        assert m["accuracy"] == pytest.approx(3 / 4)
        assert m["per_class"]["sad"]["recall"] == pytest.approx(1 / 2)
        assert m["per_class"]["sad"]["precision"] == 1.0
        assert m["n"] == 4 and m["n_predicted"] == 3


def test_metrics_empty_and_bad_labels() -> None:
    m = classification_metrics([], [], EMOTIONS)
    assert m["n"] == 0 and m["accuracy"] is None and m["macro_f1"] is None
    with pytest.raises(ValueError):
        classification_metrics(["happy", ""], ["happy", "happy"], EMOTIONS)
    with pytest.raises(ValueError):
        classification_metrics(["happy"], ["bored"], EMOTIONS)


# ------------------------------------------------------------------------------------------
# evaluation of sessions
# ------------------------------------------------------------------------------------------

# Ten frames inside the annotation plus one at t=2.0, outside it (must not be scored).
# truth:       h  h  h  s  s  s  s  h  h  h
# face_found:  1  1  1  1  0  0  0  1  0  0
# cnn_label:   h  h  s  s  .  s  .  h  .  .   (frame 5 has no face: its label must be ignored)
# label:       .  h  h  h  s  s  s  s  h  h
ANN_1 = """
start_s,end_s,emotion,face_visible
0,0.3,happy,1
0.3,0.7,sad,1
0.7,1.0,happy,0
"""
PRED_1 = [
    (0.0, 1, "", "happy"),
    (0.1, 1, "happy", "happy"),
    (0.2, 1, "happy", "sad"),
    (0.3, 1, "happy", "sad"),
    (0.4, 0, "sad", ""),
    (0.5, 0, "sad", "sad"),
    (0.6, 0, "sad", ""),
    (0.7, 1, "sad", "happy"),
    (0.8, 0, "happy", ""),
    (0.9, 0, "happy", ""),
    (2.0, 1, "sad", "sad"),
]


@pytest.fixture
def session1(tmp_path: Path) -> dict:
    pred = write_predictions(tmp_path / "s1_pred.csv", PRED_1)
    ann = write(tmp_path / "s1_ann.csv", ANN_1)
    return session_of("s1", pred, ann, participant="P1", condition="C1")


def test_face_frame_subset_is_shared_and_metrics_match_hand_values(session1: dict) -> None:
    r = evaluate([session1])
    assert r["has_ground_truth"] is True
    assert r["methods"] == ["cnn", "moving_average", "median", "hmm", "chosen"]
    ff, af = r["pooled"]["face_frames"], r["pooled"]["all_frames"]
    # face frames: 0,1,2,3,7 for every method
    assert ff["n"] == ff["cnn"]["n"] == ff["chosen"]["n"] == ff["hmm"]["n"] == 5
    assert (
        ff["cnn"]["per_class"]["happy"]["support"] == ff["chosen"]["per_class"]["happy"]["support"]
    )
    assert ff["cnn"]["accuracy"] == pytest.approx(4 / 5)
    assert ff["chosen"]["accuracy"] == pytest.approx(2 / 5)
    assert ff["chosen"]["coverage"] == pytest.approx(4 / 5)
    assert ff["cnn"]["macro_f1"] == pytest.approx((6 / 7 + 2 / 3) / 2)
    assert ff["chosen"]["macro_f1"] == pytest.approx((4 / 7 + 0) / 2)
    assert ff["cnn"]["confusion"] == [[0, 0, 0, 0], [0, 3, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    # all annotated frames: missing predictions are wrong; t=2.0 is not scored
    assert af["n"] == 10
    assert af["cnn"]["accuracy"] == pytest.approx(4 / 10)  # frame 5 ('sad', no face) not counted
    assert af["cnn"]["coverage"] == pytest.approx(5 / 10)
    assert af["chosen"]["accuracy"] == pytest.approx(7 / 10)
    assert af["chosen"]["coverage"] == pytest.approx(9 / 10)
    s = r["per_session"][0]
    assert (s["n_frames"], s["n_truth_frames"], s["n_face_frames"]) == (11, 10, 5)
    assert s["face_frames"]["cnn"]["accuracy"] == pytest.approx(4 / 5)
    det = s["detection"]
    assert det["detection_rate"] == pytest.approx(4 / 7)  # frames 0-6 visible, 0-3 found
    assert det["false_detection_rate"] == pytest.approx(1 / 3)  # frames 7-9 not visible, 7 found
    # the comparison ranks the methods on those same face frames, the chosen labels aside
    assert r["comparison"]["n_frames"] == 5
    assert set(r["comparison"]["ranking_by_macro_f1"]) == {"cnn", "moving_average", "median", "hmm"}


def test_pooling_concatenates_frames(session1: dict, tmp_path: Path) -> None:
    ann2 = write(tmp_path / "s2_ann.csv", "start_s,end_s,emotion\n0,1,angry")
    pred2 = write_predictions(
        tmp_path / "s2_pred.csv", [(0.0, 1, "angry", "sad"), (0.5, 1, "", "sad")]
    )
    r = evaluate([session1, session_of("s2", pred2, ann2, participant="P2", condition="C2")])
    ff = r["pooled"]["face_frames"]
    assert ff["n"] == 7
    assert ff["cnn"]["accuracy"] == pytest.approx(4 / 7)  # not the mean of 0.8 and 0.0
    assert ff["chosen"]["accuracy"] == pytest.approx(3 / 7)
    assert r["per_session"][1]["detection"]["available"] is False
    assert r["per_session"][1]["detection"]["detection_rate"] is None
    assert r["pooled"]["detection"]["n_sessions"] == 1


def test_missing_annotation_file_raises_but_none_skips(session1: dict, tmp_path: Path) -> None:
    bad = dict(session1, annotation=tmp_path / "typo.csv")
    with pytest.raises(UserInputError, match="typo.csv"):
        evaluate([bad])
    r = evaluate([session1, dict(session1, session="s9", annotation=None)])
    assert r["sessions_evaluated"] == ["s1"]
    assert r["sessions_skipped"] == [{"session": "s9", "reason": "no annotation file"}]


# ------------------------------------------------------------------------------------------
# report files
# ------------------------------------------------------------------------------------------


def study_paths(tmp_path: Path) -> dict:
    out = tmp_path / "out"
    plots = out / "plots"
    return {
        "out_json": out / "evaluation.json",
        "out_md": out / "evaluation.md",
        "out_cnn_png": plots / "confusion_cnn.png",
        "out_chosen_png": plots / "confusion_chosen.png",
        "out_comparison_png": plots / "comparison.png",
        "out_embedding_png": plots / "embedding.png",
    }


def report(sessions: list[dict], tmp_path: Path, **kw) -> tuple[dict, dict]:
    paths = study_paths(tmp_path)
    template = REPO / "report/evaluation_summary.md.jinja"
    hmm = hmm_from_training([], EMOTIONS)
    r = evaluate_and_compare(sessions, hmm, EMOTIONS, **paths, template=template, **kw)
    return r, paths


def test_evaluation_writes_json_markdown_pngs(session1: dict, tmp_path: Path) -> None:
    excluded = {"s7": "no face in any sampled frame"}
    returned, paths = report([session1], tmp_path, cnn="a test CNN", excluded=excluded)

    data = json.loads(paths["out_json"].read_text())
    assert data == returned
    assert data["emotions"] == EMOTIONS
    assert data["sessions_evaluated"] == ["s1"]
    ff = data["pooled"]["face_frames"]
    assert ff["cnn"]["accuracy"] == pytest.approx(0.8)
    assert ff["chosen"]["accuracy"] == pytest.approx(0.4)
    assert data["pooled"]["all_frames"]["chosen"]["coverage"] == pytest.approx(0.9)
    assert data["per_session"][0]["detection"]["detection_rate"] == pytest.approx(4 / 7)
    assert data["outputs"]["cnn_png"] == "plots/confusion_cnn.png"
    assert data["excluded_sessions"] == [{"session": "s7", "reason": excluded["s7"]}]
    assert data["comparison"]["embedding"] == "pca"  # 5 frames: too few for t-SNE

    md = paths["out_md"].read_text()
    assert md.startswith("# ")
    assert "The per-frame CNN is a test CNN." in md and "- s7: no face in any sampled" in md
    assert "per frame" in md and "[start_s, end_s)" in md and "Macro-F1" in md
    assert "| Face frames | 5 | per-frame CNN (argmax) | 100.0% | 0.800 | 0.762 |" in md
    assert "| Face frames | 5 | Chosen method | 80.0% | 0.400 | 0.286 |" in md
    assert "| All annotated frames | 10 | per-frame CNN (argmax) | 50.0% | 0.400 | 0.500 |" in md
    assert "| All annotated frames | 10 | Chosen method | 90.0% | 0.700 | 0.739 |" in md
    assert "| s1 | P1 | C1 | 11 | 10 | 5 | 57.1% | 33.3% | 0.800 | 0.762 | 0.400 | 0.286 |" in md
    # per class (face frames), happy: CNN P=1 R=3/4 F1=6/7; chosen P=2/3 R=1/2 F1=4/7
    assert "| happy | 4 | 1.000 | 0.750 | 0.857 | 0.667 | 0.500 | 0.571 |" in md
    assert "(plots/confusion_cnn.png)" in md and "(plots/confusion_chosen.png)" in md
    # the comparison: every method on the same 5 frames, Δ against the CNN
    assert "5 face frames of the held-out sessions (s1)" in md
    assert "| per-frame CNN (argmax) | 0.800 | 0.762 | +0.0 |" in md
    assert "Chosen method | 0.400" not in md.split("Does temporal modelling help?")[1]
    assert "\n\n\n" not in md  # the template leaves no stray blank lines

    cnn_img = assert_png(paths["out_cnn_png"])
    chosen_img = assert_png(paths["out_chosen_png"])
    # the chosen method has unpredicted face frames -> extra "no prediction" column -> wider
    assert chosen_img.shape[1] > cnn_img.shape[1]
    assert_png(paths["out_comparison_png"])
    assert_png(paths["out_embedding_png"])


def test_plot_confusion_png_and_shape_check(tmp_path: Path) -> None:
    out = tmp_path / "cm.png"
    plot_confusion(
        np.array([[5, 1, 0, 0], [2, 8, 0, 0], [0, 0, 0, 0], [1, 0, 0, 3]]), EMOTIONS, "t", out
    )
    assert_png(out)
    counts = tmp_path / "cm_counts.png"
    plot_confusion([[1, 0, 0, 0]] * 4, EMOTIONS, "t", counts, normalize=False)
    assert_png(counts)
    with pytest.raises(ValueError):
        plot_confusion([[1, 0], [0, 1]], EMOTIONS, "t", tmp_path / "bad.png")


def test_no_ground_truth(tmp_path: Path, session1: dict) -> None:
    no_gt = [dict(session1, annotation=None), dict(session1, session="s2", annotation="")]
    r = evaluate(no_gt)
    assert r["has_ground_truth"] is False
    assert r["message"] == "no sessions with ground truth"
    assert r["pooled"]["face_frames"] == {"n": 0, "cnn": None}
    assert r["pooled"]["all_frames"]["cnn"] is None
    assert r["sessions_evaluated"] == []

    _, paths = report([], tmp_path)
    data = json.loads(paths["out_json"].read_text())
    assert data["has_ground_truth"] is False and data["pooled"]["face_frames"]["n"] == 0
    assert "no sessions with ground truth" in paths["out_md"].read_text()
    for png in ("out_cnn_png", "out_chosen_png", "out_comparison_png", "out_embedding_png"):
        assert_png(paths[png])


def test_annotation_covering_no_frames_is_no_ground_truth(tmp_path: Path, session1: dict) -> None:
    late = dict(
        session1, annotation=write(tmp_path / "late.csv", "start_s,end_s,emotion\n50,60,sad")
    )
    r = evaluate([late])
    assert r["has_ground_truth"] is False
    assert r["per_session"][0]["n_truth_frames"] == 0
    assert "covers none" in r["per_session"][0]["note"]
