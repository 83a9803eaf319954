"""Every model option runs end to end through `snakemake` (tiny settings): a 5-class CK+-style
image-folder set with the cnn-rnn CNN and the attention sequence model fed CNN probabilities; the
offline pretrained FER2013 mini-Xception with a bidirectional LSTM; the deep 8-conv ELU CNN."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS
from studies import prepare, sessions, snakemake

from emotiontrack.datasets import load_fer2013_csv

pytestmark = pytest.mark.e2e

SESSIONS = sessions("options")
CK5 = ["happy", "surprise", "anger", "sadness", "fear"]  # CK+48 folder names


def run(d: Path, *targets: str) -> None:
    snakemake(d, *targets, timeout=1200)


def study(d: Path, config: dict) -> Path:
    """.test/options in ``d``, with ``config``'s sections merged into its own."""
    return prepare("options", d, config)


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory) -> Path:
    """The tiny study's demo videos and FER CSV, generated once by the workflow itself, with each
    session's frames and the training sessions' augmented copies: those do not depend on the CNN
    or the sequence model, so the tests share them (their `results/`) and redo only the rest."""
    d = study(tmp_path_factory.mktemp("inputs"), {})
    run(
        d,
        *[f"resources/demo/videos/{p}_{c}.mp4" for p, c, _ in SESSIONS],
        "resources/demo/fer2013.csv",
        *[f"results/frames/{p}_{c}.h5" for p, c, _ in SESSIONS],
        *[f"results/augmented/{p}_{c}.h5" for p, c, split in SESSIONS if split == "train"],
    )
    return d


def with_inputs(d: Path, demo_inputs: Path, config: dict) -> Path:
    for part in ("resources", "results"):  # modification times kept: up to date in the copy
        shutil.copytree(demo_inputs / part, d / part)
    return study(d, config)


def test_five_class_ck_folders_cnn_rnn_attention(tmp_path, demo_inputs):
    # A CK+48-style tree (<class>/*.png, CK's folder names) made from the demo FER images.
    data = load_fer2013_csv(demo_inputs / "resources/demo/fer2013.csv", EMOTIONS)
    order = {
        "happy": "happy",
        "surprise": "surprise",
        "anger": "angry",
        "sadness": "sad",
        "fear": "fear",
    }
    for folder, emotion in order.items():
        (tmp_path / "data/ck48" / folder).mkdir(parents=True)
        X = np.concatenate([x[y == EMOTIONS.index(emotion)] for x, y in data.values()])
        for i, img in enumerate(X):
            cv2.imwrite(str(tmp_path / "data/ck48" / folder / f"{i:04d}.png"), img)
    d = with_inputs(
        tmp_path,
        demo_inputs,
        {
            "emotions": ["happy", "surprise", "angry", "sad", "fear"],
            "fer": {"path": "data/ck48", "format": "image-folders"},
            "cnn": {"architecture": "cnn-rnn"},
            "sequence": {"model": "attention", "use_probabilities": True},
            "evaluation": {"compare": ["attention"], "embedding": "pca"},
        },
    )
    run(
        d,
        "results/evaluation/summary.md",
        "results/trends/user03_condB.png",
        "results/cnn/test_metrics.json",
    )
    assert not (d / "logs/extract_frames").exists()  # the shared frames served: CNN-independent
    five = ["happy", "surprise", "angry", "sad", "fear"]
    cnn = json.loads((d / "results/cnn/test_metrics.json").read_text())
    assert cnn["architecture"] == "cnn-rnn" and list(cnn["per_class"]) == five
    pred = pd.read_csv(d / "results/predictions/user03_condB.csv")
    assert list(pred.columns[3:8]) == five
    has = pred[five].notna().all(axis=1)
    assert np.allclose(pred.loc[has, five].sum(axis=1), 1, atol=1e-3)
    m = json.loads((d / "results/evaluation/metrics.json").read_text())
    assert m["emotions"] == five and set(m["comparison"]["ranking_by_macro_f1"]) == {
        "cnn",
        "moving_average",
        "median",
        "hmm",
        "attention",
    }
    # neutral/disgust intervals of the 7-class annotation are not scored
    ann = pd.read_csv(d / "resources/demo/annotations/user03_condB.csv")
    assert m["comparison"]["n_frames"] <= pred["face_found"].sum()
    if (~ann["emotion"].isin(five)).any():
        assert m["comparison"]["n_frames"] < pred["face_found"].sum()
    with h5py.File(d / "results/features/user03_condB.h5") as h5:
        assert h5["probabilities"].shape[1] == 5


def test_pretrained_mini_xception_with_bilstm(tmp_path, demo_inputs):
    d = with_inputs(
        tmp_path,
        demo_inputs,
        {
            "cnn": {"pretrained": "fer2013-mini-xception"},
            "sequence": {"model": "bilstm"},
            "evaluation": {"compare": ["bilstm"], "embedding": "pca"},
        },
    )
    run(d, "results/evaluation/summary.md", "results/cnn/test_metrics.json")
    assert not (d / "results/models/cnn.keras").exists()  # nothing was trained
    cnn = json.loads((d / "results/cnn/test_metrics.json").read_text())
    assert (
        cnn["pretrained"]["spec"] == "fer2013-mini-xception"
        and cnn["pretrained"]["input_size"] == 64
    )
    import hashlib

    with h5py.File(d / "results/features/user03_condB.h5") as h5:
        assert h5["features"].shape[1] == 128
        digest = hashlib.sha256((d / "results/models/cnn.onnx").read_bytes()).hexdigest()
        assert h5.attrs["model_sha256"] == digest
    from emotiontrack.inference import OnnxModel

    exported = OnnxModel(d / "results/models/cnn.onnx").metadata["source_sha256"]
    pre = hashlib.sha256((d / "results/models/cnn_pretrained.keras").read_bytes()).hexdigest()
    assert exported == pre  # the ONNX file is the pretrained model's export
    m = json.loads((d / "results/evaluation/metrics.json").read_text())
    assert "bilstm" in m["methods"] and "bilstm" in m["comparison"]["ranking_by_macro_f1"]


def test_deep_elu_cnn_trains(tmp_path, demo_inputs):
    d = with_inputs(tmp_path, demo_inputs, {"cnn": {"architecture": "deep-elu", "epochs": 1}})
    run(d, "results/cnn/test_metrics.json")
    cnn = json.loads((d / "results/cnn/test_metrics.json").read_text())
    assert cnn["architecture"] == "deep-elu" and cnn["parameters"] > 4_000_000
    assert len(pd.read_csv(d / "results/models/cnn_history.csv")) == 1
