import json

import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS

from emotiontrack.baselines import estimate_transitions, moving_average, moving_median, viterbi
from emotiontrack.comparison import compare_methods, hmm_from_training, plot_embedding
from emotiontrack.formats import Features, Predictions, write_features, write_predictions


def noisy_probs(truth: np.ndarray, flip_every: int, seed: int = 0) -> np.ndarray:
    """Confident per-frame probabilities that are wrong on every ``flip_every``-th frame."""
    rng = np.random.default_rng(seed)
    p = np.full((len(truth), 7), 0.02)
    wrong = (truth + rng.integers(1, 7, len(truth))) % 7
    lab = np.where(np.arange(len(truth)) % flip_every == 0, wrong, truth)
    p[np.arange(len(truth)), lab] = 0.88
    return p


def test_smoothers_skip_gaps_and_fix_isolated_errors():
    truth = np.repeat([3, 4, 6], 20)
    p = noisy_probs(truth, 5)
    p[10:13] = np.nan
    for smooth in (moving_average, moving_median):
        s = smooth(p, 5)
        assert np.isnan(s[10:13]).all() and not np.isnan(s[:10]).any()
        assert np.allclose(s[~np.isnan(s).any(axis=1)].sum(axis=1), 1)
        ok = ~np.isnan(s).any(axis=1)
        assert (s[ok].argmax(1) == truth[ok]).mean() > (p[ok].argmax(1) == truth[ok]).mean()


def test_transitions_and_viterbi_bridge_gaps():
    start, trans = estimate_transitions([np.repeat([0, 1, 2], 30), np.array([-1, 1, 1, 1])], 3)
    assert start.shape == (3,) and np.isclose(start.sum(), 1)
    assert np.allclose(trans.sum(axis=1), 1) and trans[0, 0] > 0.9 and trans[0, 2] < 0.05
    truth = np.repeat([3, 4, 6], 20)
    p = noisy_probs(truth, 4)
    p[25:30] = np.nan  # no face: the decoder bridges it
    _, t7 = estimate_transitions([np.repeat(np.arange(7), 30)], 7)
    path = viterbi(p, np.full(7, 1 / 7), t7)
    assert not np.isnan(path).any() and np.allclose(path.sum(axis=1), 1)
    assert (path.argmax(1) == truth).mean() > 0.9
    assert (p[~np.isnan(p).any(axis=1)].argmax(1) == truth[~np.isnan(p).any(axis=1)]).mean() < 0.8
    assert np.isnan(viterbi(np.full((4, 7), np.nan), np.full(7, 1 / 7), t7)).all()


def session(tmp_path, name, truth, cnn, seq_probs):
    T = len(truth)
    f = tmp_path / f"{name}.h5"
    feats = Features(
        features=np.eye(7)[truth].astype("f4") + 0.1,
        probabilities=cnn.astype("f4"),
        face_found=~np.isnan(cnn).any(axis=1),
        timestamps=np.arange(T) / 5.0,
        frame_index=np.arange(T) * 6,
        emotions=EMOTIONS,
        attrs={"fps": 5.0},
    )
    write_features(f, feats)
    ann = tmp_path / f"{name}.csv"
    bounds = np.flatnonzero(np.diff(truth)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, T]
    pd.DataFrame(
        {
            "start_s": np.maximum(starts / 5 - 0.1, 0),
            "end_s": ends / 5 - 0.1,
            "emotion": np.array(EMOTIONS)[truth[starts]],
        }
    ).to_csv(ann, index=False)
    pred = tmp_path / f"{name}_lstm.csv"
    write_predictions(pred, Predictions.from_probabilities(feats, np.asarray(seq_probs, "f4")))
    return {
        "session": name,
        "features": str(f),
        "annotation": str(ann),
        "sequence_predictions": {"lstm": str(pred)},
    }


def test_all_methods_are_scored_on_the_same_frames(tmp_path):
    truth = np.repeat([3, 4, 6, 0], 15)
    cnn = noisy_probs(truth, 3)
    cnn[20:23] = np.nan
    perfect = np.eye(7)[truth]
    s = session(tmp_path, "p3_A", truth, cnn, perfect)
    train = [{"features": s["features"], "annotation": s["annotation"], "pseudolabels": ""}]
    hmm = hmm_from_training(train, EMOTIONS)
    result, pooled, feats, y = compare_methods([s], hmm, EMOTIONS, smoothing_s=1.0)
    assert set(result["methods"]) == {"cnn", "moving_average", "median", "hmm", "lstm"}
    assert result["n_frames"] == 57 and all(len(p) == 57 for p in pooled.values())
    assert result["methods"]["lstm"]["accuracy"] == 1.0
    assert result["ranking_by_macro_f1"][0] == "lstm"
    cnn_acc = result["methods"]["cnn"]["accuracy"]
    assert cnn_acc == pytest.approx(
        (cnn[~np.isnan(cnn).any(1)].argmax(1) == truth[~np.isnan(cnn).any(1)]).mean()
    )
    assert result["methods"]["hmm"]["macro_f1"] > result["methods"]["cnn"]["macro_f1"]
    assert result["hmm_transitions_from"] == "annotations"
    json.dumps(result, allow_nan=False)
    assert (
        plot_embedding(np.concatenate(feats), y, EMOTIONS, tmp_path / "e.png", method="tsne")
        == "tsne"
    )
    assert (tmp_path / "e.png").stat().st_size > 5000
