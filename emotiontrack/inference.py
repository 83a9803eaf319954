"""The per-frame CNN without TensorFlow: a saved Keras model run by OpenCV's DNN module.

Why: feature extraction is one short job per session, and importing TensorFlow and Keras costs
5-15 s of CPU and ~650 MB of memory per job, more than running the CNN over a 10-minute session.
OpenCV (already needed for video and faces) runs the same network at a fraction of a millisecond
per face, and the job starts in well under a second and stays near 100 MB.

How: the ``.keras`` archive is read directly (``config.json`` for the layers, ``model.weights.h5``
for the weights, found by layer name), batch normalisation is folded into the layer before it,
and the chain is handed to OpenCV as an in-memory Caffe network (text definition plus a binary
weights message written by the few lines of protobuf encoding below; OpenCV's Caffe importer is
its simplest one). Leading rescaling and per-image standardisation run in NumPy, exactly as Keras
computes them. Channel order is converted (Keras is channels-last, Caffe channels-first),
including the rows of the dense layer after ``Flatten``.

What it runs: a chain of the layers :func:`~emotiontrack.cnn.build_cnn` uses: ``InputLayer``
(square, one channel), ``Rescaling``, ``LayerNormalization`` over the whole image, ``Conv2D`` (odd
square kernel, stride 1, ``same``/``valid``), ``BatchNormalization`` (moving statistics),
activations ``linear``/``relu``/``softmax``, ``MaxPooling2D`` (pool size = strides, dividing the
size), ``Dropout`` (identity at inference), ``Flatten`` and ``Dense``, with a layer named
``features``. Anything else raises :class:`UnsupportedModel`, and
:func:`emotiontrack.features.extract_features` falls back to Keras. Outputs agree with Keras to
float32 round-off (``tests/test_inference.py``).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np

FEATURES_LAYER = "features"


class UnsupportedModel(ValueError):
    """The saved model uses a layer or setting this module does not implement."""


@dataclass
class _Op:
    kind: str  # "affine" (x * scale + shift), "standardise", "conv", "dense", "relu", "softmax",
    #             "pool", "flatten", "features" (marks where the features are read)
    name: str
    w: np.ndarray | None = None
    b: np.ndarray | None = None
    arg: object = None


def _read_weights(zf: zipfile.ZipFile) -> dict[str, list[np.ndarray]]:
    """Layer name -> its variables in saved order, from ``model.weights.h5`` in the archive
    (Keras 3 stores each layer's variables under ``layers/<path>/vars`` with the layer's name as
    the group's ``name`` attribute)."""
    out: dict[str, list[np.ndarray]] = {}
    with zf.open("model.weights.h5") as fh, h5py.File(fh, "r") as h5:

        def visit(name: str, obj) -> None:
            if isinstance(obj, h5py.Group) and name.endswith("vars") and "name" in obj.attrs:
                keys = sorted(obj.keys(), key=int)
                out[str(obj.attrs["name"])] = [np.asarray(obj[k][...]) for k in keys]

        h5.visititems(visit)
    return out


def _activation(name: str, layer: str) -> list[_Op]:
    if name == "linear":
        return []
    if name in ("relu", "softmax"):
        return [_Op(name, layer)]
    raise UnsupportedModel(f"layer {layer}: activation {name!r}")


class OpenCVCNN:
    """A saved Keras CNN run by OpenCV's DNN module. ``input_size``: side of the square gray
    input (pixels); ``feature_dim``: width of the ``features`` layer; ``n_classes``."""

    def __init__(self, path: str | Path):
        """Load ``path`` (a ``.keras`` file); raises :class:`UnsupportedModel` (see the module
        docstring)."""
        ops, self.input_size = _parse(path)
        first = next(i for i, o in enumerate(ops) if o.kind not in ("affine", "standardise"))
        self._pre = ops[:first]
        proto, weights, self._outputs, self.feature_dim, self.n_classes = _to_caffe(
            ops[first:], self.input_size
        )
        self._net = cv2.dnn.readNetFromCaffe(
            np.frombuffer(proto.encode(), np.uint8), np.frombuffer(weights, np.uint8)
        )

    def outputs(self, X: np.ndarray, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """X: (N, S, S) gray images, 0-255 (any numeric dtype) -> (features (N, D),
        probabilities (N, C)) float32, ``batch_size`` images at a time. A short last batch is
        padded: OpenCV re-plans the network for every new input shape and its memory grows with
        each, so the shape is kept fixed."""
        n = len(X)
        feats = np.zeros((n, self.feature_dim), np.float32)
        probs = np.zeros((n, self.n_classes), np.float32)
        blob = np.zeros((batch_size, 1, self.input_size, self.input_size), np.float32)
        for s in range(0, n, batch_size):
            x = np.asarray(X[s : s + batch_size], np.float32)
            for op in self._pre:
                x = _preprocess(op, x)
            k = len(x)
            blob[:k, 0] = x
            self._net.setInput(blob)
            f, p = self._net.forward(self._outputs)
            feats[s : s + k] = f.reshape(batch_size, -1)[:k]
            probs[s : s + k] = p.reshape(batch_size, -1)[:k]
        return feats, probs


def _preprocess(op: _Op, x: np.ndarray) -> np.ndarray:
    """Rescaling or per-image standardisation of (N, H, W) float32 images, as Keras does it."""
    if op.kind == "affine":
        return x * op.w + op.b
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = np.square(x - mean).mean(axis=(1, 2), keepdims=True)
    x = (x - mean) / np.sqrt(var + np.float32(op.arg))
    if op.w is not None:
        x = x * op.w.reshape(x.shape[1:])
    return x if op.b is None else x + op.b.reshape(x.shape[1:])


def _parse(path: str | Path) -> tuple[list[_Op], int]:
    """Read a ``.keras`` file into a chain of ops (batch norm folded) and its input size; raise
    :class:`UnsupportedModel` if it is not a readable Keras 3 archive holding a chain of
    supported layers with a ``features`` layer."""
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
            weights = _read_weights(zf)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise UnsupportedModel(f"{path}: not a Keras 3 .keras archive ({e})") from None
    if config.get("class_name") != "Functional":
        raise UnsupportedModel(f"{path}: model class {config.get('class_name')!r}")
    layers = config["config"]["layers"]
    ops: list[_Op] = []
    input_size = None
    prev = None
    for layer in layers:
        cls_name, lc, name = layer["class_name"], layer["config"], layer["config"]["name"]
        inbound = _inbound_names(layer)
        if prev is not None and inbound != [prev]:
            raise UnsupportedModel(f"{path}: layer {name} is not fed by {prev} alone")
        prev = name
        w = weights.get(name, [])
        if lc.get("data_format", "channels_last") != "channels_last":
            raise UnsupportedModel(f"{path}: layer {name}: channels_first")
        if cls_name == "InputLayer":
            shape = lc.get("batch_shape") or lc.get("batch_input_shape")
            if not shape or len(shape) != 4 or shape[1] != shape[2] or shape[3] != 1:
                raise UnsupportedModel(f"{path}: input shape {shape}")
            input_size = int(shape[1])
        elif cls_name == "Rescaling":
            scale, offset = lc["scale"], lc["offset"]
            if not np.isscalar(scale) or not np.isscalar(offset):
                raise UnsupportedModel(f"{path}: layer {name}: per-channel rescaling")
            ops.append(_Op("affine", name, np.float32(scale), np.float32(offset)))
        elif cls_name == "LayerNormalization":
            if sorted(_axes(lc["axis"])) != [1, 2, 3] or lc.get("rms_scaling"):
                raise UnsupportedModel(f"{path}: layer {name}: axis {lc['axis']}")
            it = iter(w)
            gamma = next(it) if lc.get("scale", True) else None
            beta = next(it) if lc.get("center", True) else None
            ops.append(_Op("standardise", name, gamma, beta, float(lc["epsilon"])))
        elif cls_name == "Conv2D":
            k = lc["kernel_size"]
            if (
                k[0] != k[1]
                or k[0] % 2 == 0
                or list(lc["strides"]) != [1, 1]
                or list(lc.get("dilation_rate", [1, 1])) != [1, 1]
                or lc.get("groups", 1) != 1
                or lc["padding"] not in ("same", "valid")
            ):
                raise UnsupportedModel(f"{path}: layer {name}: convolution settings")
            bias = w[1] if lc["use_bias"] else None
            ops.append(_Op("conv", name, w[0], bias, lc["padding"]))
            ops += _activation(lc["activation"], name)
        elif cls_name == "Dense":
            bias = w[1] if lc["use_bias"] else None
            ops.append(_Op("dense", name, w[0], bias))
            ops += _activation(lc["activation"], name)
        elif cls_name == "BatchNormalization":
            if _axes(lc["axis"]) != [-1] and _axes(lc["axis"]) != [3]:
                raise UnsupportedModel(f"{path}: layer {name}: axis {lc['axis']}")
            it = iter(w)
            gamma = next(it) if lc.get("scale", True) else None
            beta = next(it) if lc.get("center", True) else None
            mean, var = next(it), next(it)
            inv = 1.0 / np.sqrt(var.astype(np.float64) + lc["epsilon"])
            scale = inv if gamma is None else inv * gamma
            shift = -mean * scale + (0.0 if beta is None else beta)
            ops.append(_Op("affine", name, scale.astype(np.float32), shift.astype(np.float32)))
        elif cls_name == "Activation":
            ops += _activation(lc["activation"], name)
        elif cls_name == "MaxPooling2D":
            p, s = list(lc["pool_size"]), list(lc["strides"] or lc["pool_size"])
            if p != s or p[0] != p[1] or lc["padding"] != "valid":
                raise UnsupportedModel(f"{path}: layer {name}: pooling settings")
            ops.append(_Op("pool", name, arg=int(p[0])))
        elif cls_name == "Dropout":
            pass
        elif cls_name == "Flatten":
            ops.append(_Op("flatten", name))
        else:
            raise UnsupportedModel(f"{path}: layer {name}: {cls_name} is not supported")
        if name == FEATURES_LAYER:
            ops.append(_Op("features", name))
    kinds = [o.kind for o in ops]
    if input_size is None or "features" not in kinds or "dense" not in kinds:
        raise UnsupportedModel(f"{path}: no input layer, dense layer or {FEATURES_LAYER!r}")
    if kinds[-1] != "softmax":
        raise UnsupportedModel(f"{path}: the model does not end in a softmax")
    before = kinds[: kinds.index("features")]
    if "flatten" not in before and "dense" not in before:
        raise UnsupportedModel(f"{path}: the {FEATURES_LAYER!r} layer is not a vector")
    return _fold(ops), input_size


def _axes(axis) -> list[int]:
    return [axis] if isinstance(axis, int) else list(axis)


def _inbound_names(layer: dict) -> list[str]:
    """Names of the layers feeding ``layer`` in a Keras 3 functional config."""
    names = []
    for node in layer.get("inbound_nodes", []):
        for arg in node.get("args", []):
            hist = arg.get("config", {}).get("keras_history") if isinstance(arg, dict) else None
            if hist:
                names.append(hist[0])
    return names


def _fold(ops: list[_Op]) -> list[_Op]:
    """Fold an affine op (batch norm) into the convolution or dense layer right before it
    (never across the features marker)."""
    out: list[_Op] = []
    for op in ops:
        prev = out[-1] if out else None
        if op.kind == "affine" and prev is not None and prev.kind in ("conv", "dense"):
            w = (prev.w * op.w).astype(np.float32)
            b = op.b if prev.b is None else (prev.b * op.w + op.b)
            out[-1] = _Op(prev.kind, op.name, w, np.asarray(b, np.float32), prev.arg)
            continue
        out.append(op)
    return out


# --------------------------------------------------------------------------------------------
# The chain as a Caffe network: prototxt text and a binary NetParameter with the weights.
# Protobuf wire format: a field is varint(number << 3 | wire type); wire type 2 is a length-
# prefixed message, string or packed array. NetParameter.layer = 100; LayerParameter.name = 1,
# .type = 2, .blobs = 7; BlobProto.shape = 7 (BlobShape.dim = 1, packed int64), .data = 5
# (packed float32, little-endian).
# --------------------------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _blob(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a, "<f4")
    shape = _field(1, b"".join(_varint(int(d)) for d in a.shape))
    return _field(7, shape) + _field(5, a.tobytes())


def _layer_weights(name: str, kind: str, blobs: list[np.ndarray]) -> bytes:
    body = _field(1, name.encode()) + _field(2, kind.encode())
    return _field(100, body + b"".join(_field(7, _blob(b)) for b in blobs))


def _to_caffe(ops: list[_Op], size: int) -> tuple[str, bytes, list[str], int, int]:
    """(prototxt, weights, [features top, probabilities top], feature_dim, n_classes) for a
    chain of ops taking a (N, 1, size, size) input."""
    lines = [f"input: 'data'\ninput_shape {{ dim: 1 dim: 1 dim: {size} dim: {size} }}"]
    weights = []
    shape: tuple[int, ...] = (1, size, size)  # C, H, W (or (D,) once flat)
    flat_from: tuple[int, int, int] | None = None
    top, features, dim = "data", None, 0

    def add(name: str, kind: str, params: str = "", blobs: tuple = ()) -> None:
        nonlocal top
        lines.append(
            f"layer {{ name: '{name}' type: '{kind}' bottom: '{top}' top: '{name}' {params}}}"
        )
        if blobs:
            weights.append(_layer_weights(name, kind, list(blobs)))
        top = name

    for i, op in enumerate(ops):
        name = f"l{i}_{op.kind}"
        if op.kind == "features":
            features, dim = top, int(np.prod(shape))
        elif op.kind == "conv":
            if len(shape) != 3:
                raise UnsupportedModel(f"layer {op.name}: convolution after flatten")
            k, f = op.w.shape[0], op.w.shape[-1]
            pad = k // 2 if op.arg == "same" else 0
            bias = np.zeros(f, np.float32) if op.b is None else op.b
            add(
                name,
                "Convolution",
                f"convolution_param {{ num_output: {f} kernel_size: {k} pad: {pad} }} ",
                (op.w.transpose(3, 2, 0, 1), bias),
            )
            shape = (f, shape[1] + 2 * pad - k + 1, shape[2] + 2 * pad - k + 1)
        elif op.kind == "dense":
            if len(shape) != 1:
                raise UnsupportedModel(f"layer {op.name}: dense on an image (no Flatten)")
            w = op.w
            if flat_from is not None:  # Keras flattened H, W, C; Caffe flattens C, H, W
                c, h, wd = flat_from
                w = w.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(c * h * wd, -1)
                flat_from = None
            u = w.shape[1]
            bias = np.zeros(u, np.float32) if op.b is None else op.b
            add(name, "InnerProduct", f"inner_product_param {{ num_output: {u} }} ", (w.T, bias))
            shape = (u,)
        elif op.kind == "affine":
            c = shape[0]
            scale = np.broadcast_to(np.asarray(op.w, np.float32), (c,))
            shift = np.broadcast_to(np.asarray(op.b, np.float32), (c,))
            add(name, "Scale", "scale_param { bias_term: true } ", (scale, shift))
        elif op.kind == "relu":
            add(name, "ReLU")
        elif op.kind == "softmax":
            if len(shape) != 1:
                raise UnsupportedModel(f"layer {op.name}: softmax on an image")
            add(name, "Softmax")
        elif op.kind == "pool":
            p = op.arg
            if len(shape) != 3 or shape[1] % p or shape[2] % p:
                raise UnsupportedModel(f"layer {op.name}: pooling that does not divide the size")
            add(name, "Pooling", f"pooling_param {{ pool: MAX kernel_size: {p} stride: {p} }} ")
            shape = (shape[0], shape[1] // p, shape[2] // p)
        elif op.kind == "flatten":
            if len(shape) == 3 and shape[1] * shape[2] > 1:
                flat_from = shape
            add(name, "Flatten")
            shape = (int(np.prod(shape)),)
        else:  # standardise after the first layer: Caffe's MVN adds eps to the std, not var
            raise UnsupportedModel(f"layer {op.name}: {op.kind} inside the network")
    return "\n".join(lines) + "\n", b"".join(weights), [features, top], dim, int(shape[0])
