"""Saved Keras models exported to ONNX, so the per-session jobs run them without TensorFlow.

Export is Keras 3's own ``model.export(path, format="onnx")`` (tf2onnx underneath), once per
trained model, in a job that has TensorFlow anyway; :mod:`emotiontrack.inference` then runs the
file with onnxruntime. Every export is checked before it is written: the ONNX file is run on a
seeded probe input and must give the Keras model's outputs within :data:`TOLERANCE`, else the
export fails (a wrong model is never written silently).

- CNN (:func:`export_cnn`): input ``face`` (N, S, S, 1) float32 gray 0-255; outputs
  ``probabilities`` (N, C) and ``features`` (N, D), from the layer named ``features``.
- Sequence model (:func:`export_sequence`): input ``frames`` (N, T, F) float32, all-zero rows
  masked, and for ``refine`` also ``cnn_log_probabilities`` (N, T, C); batch and time axes
  dynamic; output ``probabilities`` (N, T, C). tf2onnx keeps the ``Masking`` semantics (the
  masked LSTM becomes an ONNX loop that skips masked steps, attention ignores masked keys), but
  it mis-converts ``TimeDistributed`` (the output loses its time axis), so the export runs an
  equivalent model in which ``TimeDistributed(Dense)`` is the ``Dense`` itself (a Dense layer
  applies to the last axis of any input: same weights, same outputs).

Metadata stored in the file (``metadata_props``): ``kind``, ``source`` and ``source_sha256``
(the Keras file), ``exporter`` (versions), ``max_abs_diff`` (the probe check's result).

Command line (for a model trained outside the workflow)::

    python -m emotiontrack.export cnn results/models/cnn.keras results/models/cnn.onnx
    python -m emotiontrack.export sequence lstm.keras lstm.onnx
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .video import sha256sum

log = logging.getLogger(__name__)

# largest |ONNX - Keras| accepted on the probe input (relative to the output's scale above 1)
TOLERANCE = 1e-4
CNN_OUTPUTS = ("probabilities", "features")
SEQUENCE_OUTPUTS = ("probabilities",)
SEQUENCE_INPUT = "frames"
REFINE_INPUT = "cnn_log_probabilities"  # the refine model's second input


def export_cnn(model_path: str | Path, out_onnx: str | Path, *, probe: int = 32) -> dict:
    """Export the per-frame CNN ``model_path`` (``.keras``, with a layer named ``features``) to
    ``out_onnx`` with outputs ``probabilities`` and ``features``; check it on ``probe`` seeded
    random crops (a few flat ones included) against Keras. Returns provenance (sizes, check)."""
    import keras

    from .cnn import FEATURES_LAYER

    model = _load(model_path)
    try:
        feats = model.get_layer(FEATURES_LAYER).output
    except ValueError:
        raise ValueError(f"{model_path}: the CNN has no layer named {FEATURES_LAYER!r}") from None
    both = keras.Model(model.inputs, [model.output, feats], name="cnn")
    size = int(model.input_shape[1])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (probe, size, size, 1)).astype(np.float32)
    x[:2] = 128.0  # flat crops: the per-image standardisation's epsilon path
    return _export(both, model_path, out_onnx, {"face": x}, CNN_OUTPUTS, "cnn")


def export_sequence(
    model_path: str | Path, out_onnx: str | Path, *, probe_frames: int = 80
) -> dict:
    """Export a sequence model (``.keras``, made by
    :func:`emotiontrack.sequence_training.build_sequence_model` or any model mapping ``frames``
    (N, T, F), and for ``refine`` ``cnn_log_probabilities`` (N, T, C), to a dict/tensor of
    per-frame ``probabilities``) to ``out_onnx``: inputs of the same names with dynamic batch
    and time axes, output ``probabilities`` only (the refine model's ``delta`` and an
    autoencoder's ``reconstruction`` heads are left out). Checked against Keras on a seeded batch
    of two sequences with masked frames, one padded at the end (masked steps and padding
    included). Returns provenance."""
    import keras

    model = _load(model_path)
    structure = model.input if isinstance(model.input, dict) else {SEQUENCE_INPUT: model.input}
    unknown = set(structure) - {SEQUENCE_INPUT, REFINE_INPUT}
    if SEQUENCE_INPUT not in structure or unknown:
        raise ValueError(
            f"{model_path}: a sequence model takes {SEQUENCE_INPUT!r} (and, refining the CNN, "
            f"{REFINE_INPUT!r}); this one takes {sorted(structure)}"
        )
    out = model.output["probabilities"] if isinstance(model.output, dict) else model.output
    inputs = structure if len(structure) > 1 else structure[SEQUENCE_INPUT]
    plain = _without_time_distributed(keras.Model(inputs, out, name="sequence"))
    rng = np.random.default_rng(0)
    n_in = int(structure[SEQUENCE_INPUT].shape[-1])
    x = rng.normal(size=(2, probe_frames, n_in)).astype(np.float32)
    masked = rng.random((2, probe_frames)) < 0.25
    masked[:, :3] = True  # no face at the start
    masked[1, -10:] = True  # padding at the end
    x[masked] = 0.0
    probe = {SEQUENCE_INPUT: x}
    if REFINE_INPUT in structure:  # the CNN's log probabilities, 0 where there is no face
        n_classes = int(structure[REFINE_INPUT].shape[-1])
        p = rng.dirichlet(np.full(n_classes, 0.5), (2, probe_frames))
        probe[REFINE_INPUT] = np.where(masked[..., None], 0.0, np.log(np.maximum(p, 1e-7))).astype(
            np.float32
        )
    return _export(plain, model_path, out_onnx, probe, SEQUENCE_OUTPUTS, "sequence", model)


def _load(model_path: str | Path):
    import keras

    try:
        return keras.models.load_model(model_path, compile=False)
    except Exception as e:  # Keras raises many types for a bad file
        from . import UserInputError

        raise UserInputError(f"{model_path}: cannot load as a Keras model ({e})") from None


def _without_time_distributed(model):
    """``model`` with every ``TimeDistributed(Dense)`` replaced by its ``Dense`` (same weights):
    tf2onnx mis-converts TimeDistributed. Other wrapped layers raise ValueError."""
    import keras
    from keras import layers

    class MaskedDense(layers.Dense):
        """Dense that accepts the ``mask`` the graph passes to the TimeDistributed it replaces
        (export only; never saved)."""

        def call(self, inputs, mask=None):
            return super().call(inputs)

    def clone(layer):
        if isinstance(layer, layers.TimeDistributed):
            if not isinstance(layer.layer, layers.Dense):
                raise ValueError(
                    f"layer {layer.name}: TimeDistributed({type(layer.layer).__name__}) cannot "
                    "be exported to ONNX (only TimeDistributed(Dense) is rewritten)"
                )
            return MaskedDense.from_config({**layer.layer.get_config(), "name": layer.name})
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for old, new in zip(model.layers, copy.layers, strict=True):
        new.set_weights(old.get_weights())
    return copy


def _export(model, source, out_onnx, probe: dict, output_names, kind, reference=None) -> dict:
    """Export ``model`` (outputs in the order of ``output_names``; inputs named as the keys of
    ``probe``, their batch and time axes dynamic), name its outputs, store metadata, check the
    file against ``reference`` (default: ``model``) on ``probe`` ({input name: array}) and write
    it to ``out_onnx`` (atomically). Raises RuntimeError when the check fails."""
    import keras
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    reference = reference or model
    several = len(probe) > 1  # a dict-input model: called with one argument, the dict
    specs = {
        name: tf.TensorSpec(
            (None, *(model.input[name].shape if several else model.input_shape)[1:]),
            tf.float32,
            name=name,
        )
        for name in probe
    }
    signature = [specs] if several else list(specs.values())
    feed = probe if several else next(iter(probe.values()))
    out_onnx = Path(out_onnx)
    out_onnx.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # one line per node otherwise
    with tempfile.TemporaryDirectory(dir=out_onnx.parent) as tmp, warnings.catch_warnings():
        # Keras warns that a bare tensor is not the {name: tensor} structure of the inputs
        warnings.filterwarnings("ignore", "The structure of `inputs`")
        warnings.filterwarnings("ignore", "In the future `np.object`")
        raw = Path(tmp) / "raw.onnx"
        model(feed)  # Keras exports only a model that has been called
        model.export(str(raw), format="onnx", verbose=False, input_signature=signature)
        proto = onnx.load(str(raw))
        _rename_outputs(proto, output_names)
        exporter = f"keras {keras.__version__}, tf2onnx {tf2onnx.__version__}"
        meta = {
            "kind": kind,
            "source": Path(source).name,
            "source_sha256": sha256sum(source),
            "exporter": exporter,
        }
        got = ort.InferenceSession(proto.SerializeToString()).run(None, probe)
        want = reference(feed, training=False)
        if isinstance(want, dict):
            want = [want[n] for n in output_names]
        elif not isinstance(want, list | tuple):
            want = [want]
        diff = max(_difference(g, np.asarray(w)) for g, w in zip(got, want, strict=True))
        if not diff <= TOLERANCE:
            raise RuntimeError(
                f"{source}: the ONNX export differs from Keras by {diff:.3g} "
                f"(> {TOLERANCE}, or in shape) on the probe input; not written"
            )
        meta["max_abs_diff"] = f"{diff:.3g}"
        for k, v in meta.items():
            proto.metadata_props.add(key=k, value=v)
        part = Path(tmp) / "model.onnx"
        onnx.save(proto, str(part))
        os.replace(part, out_onnx)
    log.info("%s -> %s (%s; |ONNX - Keras| <= %.3g)", source, out_onnx, exporter, diff)
    return {
        **meta,
        "inputs": {name: list(spec.shape) for name, spec in specs.items()},
        "outputs": list(output_names),
        "max_abs_diff": diff,
    }


def _difference(got: np.ndarray, want: np.ndarray) -> float:
    """Largest |got - want|, relative to the output's scale where that exceeds 1 (features);
    inf when the shapes differ."""
    if got.shape != want.shape:
        return float("inf")
    return float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))


def _rename_outputs(proto, names: tuple[str, ...]) -> None:
    """Give the graph's outputs (in order) the names ``names`` (tf2onnx calls them
    ``Identity:0``, ...), everywhere they are used."""
    graph = proto.graph
    if len(graph.output) != len(names):
        raise RuntimeError(f"expected {len(names)} outputs, the export has {len(graph.output)}")
    renames = {o.name: n for o, n in zip(graph.output, names, strict=True)}
    for node in graph.node:
        node.output[:] = [renames.get(o, o) for o in node.output]
        node.input[:] = [renames.get(i, i) for i in node.input]
    for o in graph.output:
        o.name = renames[o.name]


def cached_onnx(model: str, emotions: list[str] | None = None) -> Path:
    """The ONNX export of a model the CLI or the service names (a built-in pretrained model,
    wrapped for ``emotions``, or a ``.keras``/``.h5`` CNN file), made once and kept in
    ``$EMOTIONTRACK_CACHE/models`` (default ``~/.cache/emotiontrack/models``), keyed by the
    model file's SHA-256 and the emotions: only the first use imports TensorFlow. A workflow job
    never needs this (its rules export the CNN as a declared artifact, ``results/models/cnn.onnx``).
    """
    import hashlib
    import os
    import tempfile

    from . import UserInputError
    from .pretrained import BUILTIN, resolve, save_pretrained
    from .video import sha256sum

    builtin = model in BUILTIN
    if builtin and not emotions:
        raise ValueError(f"built-in model {model!r}: give the emotions to predict")
    source = resolve(model) if builtin else Path(model)
    if not source.is_file():
        raise UserInputError(f"{model}: model file not found")
    key = hashlib.sha256(
        f"{sha256sum(source)}:{','.join(emotions or []) if builtin else ''}".encode()
    ).hexdigest()[:16]
    root = Path(os.environ.get("EMOTIONTRACK_CACHE", Path.home() / ".cache" / "emotiontrack"))
    out = root / "models" / f"{Path(model).stem}-{key}.onnx"
    if out.is_file():
        return out
    from .tfutil import configure_tf

    configure_tf(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    log.info("%s: exporting to ONNX once (%s)", model, out)
    with tempfile.TemporaryDirectory() as tmp:
        keras_file = Path(tmp) / "model.keras"
        if builtin:
            save_pretrained(model, list(emotions), keras_file)
        else:
            keras_file = source
        part = out.with_suffix(f".{os.getpid()}.part")  # beside it: the rename is atomic
        try:
            export_cnn(keras_file, part)
            os.replace(part, out)
        finally:
            part.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Export a Keras model of the pipeline to ONNX.")
    ap.add_argument("kind", choices=("cnn", "sequence"))
    ap.add_argument("model", help="the .keras file")
    ap.add_argument("out", help="the .onnx file to write")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from .tfutil import configure_tf

    configure_tf(1)
    (export_cnn if args.kind == "cnn" else export_sequence)(args.model, args.out)


if __name__ == "__main__":
    main()
