"""The workflow's own intermediate files: one typed reader and one writer per artifact.

=====================  ==========================================  ==============================
artifact               path (workflow)                             here
=====================  ==========================================  ==============================
frames HDF5            results/frames/{session}.h5                 :class:`Frames`,
                       results/augmented/{session}.h5 (copies)     :class:`FramesWriter`,
                                                                   :func:`read_frames`,
                                                                   :func:`open_faces`,
                                                                   :func:`write_frames`
features HDF5          results/features/{session}.h5               :class:`Features`,
                       results/features/augmented/{session}.h5     :func:`read_features`,
                                                                   :func:`read_feature_copies`,
                                                                   :func:`write_features`
predictions CSV        results/predictions/{session}.csv           :class:`Predictions`,
                                                                   :func:`read_predictions`,
                                                                   :func:`write_predictions`
pseudo labels          results/pseudolabels/{session}.npy/.json    :class:`PseudoLabels`,
                                                                   :func:`read_pseudolabels`,
                                                                   :func:`write_pseudolabels`
trends CSV             results/trends/{session}.csv                :func:`read_trends`,
                                                                   :func:`write_trends`
labelled clip set      results/clips/{dataset}/clips.h5            :class:`ClipSet`,
                                                                   :func:`read_clips`,
                                                                   :func:`write_clips`
=====================  ==========================================  ==============================

Conventions shared by every file: time in seconds from the start of the video, one row per
sampled frame, the sampling rate in attribute ``fps`` (frames and features alike), the
provenance (source path and SHA-256, model and its hash) in attributes. A file holding several
augmented copies of one session carries attribute ``copies`` = K and a leading copies axis
(K, T, ...); a plain session file has ``copies`` = 0 and (T, ...) arrays. Readers return one
session timeline per object, (T, ...), whichever file it came from.

These files are written by the workflow and only read back by it, so a malformed one is a bug
(or a file from an older version: rerun its job) and is caught by ``assert``; the checks with
messages for users are for users' own files (videos, annotations, the sheet, the FER set).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

if TYPE_CHECKING:  # pandas is imported where a CSV is read or written: the per-session
    # frames and features jobs never need it, and it is most of their start-up (0.15 s)
    import pandas as pd

FPS = "fps"  # the sampling rate (frames per second) attribute of frames and features files
COPIES = "copies"  # number of augmented copies on the leading axis; 0 = a plain session file


def _attrs(h5: h5py.File) -> dict[str, Any]:
    """HDF5 attributes as plain Python/numpy values."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in h5.attrs.items()}


# --------------------------------------------------------------------------------------------
# frames HDF5
# --------------------------------------------------------------------------------------------


@dataclass
class Frames:
    """One session's sampled frames (``results/frames``) or its augmented copies
    (``results/augmented``, ``copies`` > 0).

    ``faces``: (T, S, S) uint8 stored crops, (K, T, S, S) with copies, or None when read without
    them; ``timestamps`` (T,) s; ``face_found`` (T,) bool; ``frame_index`` (T,) int64 (index in
    the video); ``boxes`` (T, 4) int32 x, y, w, h video pixels (-1 without a face);
    ``keypoints`` (T, P, 2) float32 or None; ``mesh`` (T, 468, 3) float32 or None; ``attrs``:
    provenance (``source``, ``source_sha256``, ``fps``, ``crop_size``, ``margin``, ...)."""

    timestamps: np.ndarray
    face_found: np.ndarray
    frame_index: np.ndarray
    boxes: np.ndarray
    faces: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    mesh: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return float(self.attrs[FPS])

    @property
    def copies(self) -> int:
        return int(self.attrs.get(COPIES, 0))


_FRAME_ROWS = ("timestamps", "face_found", "frame_index", "boxes")


def read_frames(path: str | Path, *, faces: bool = True) -> Frames:
    """Read a frames file (``faces=False`` leaves the crops on disk, see :func:`open_faces`)."""
    with h5py.File(path, "r") as h5:
        attrs = _attrs(h5)
        assert FPS in attrs and COPIES in attrs, f"{path}: not a frames file of this version"
        rows = {k: h5[k][...] for k in _FRAME_ROWS}
        extra = {k: h5[k][...] for k in ("keypoints", "mesh") if k in h5}
        crops = h5["faces"][...] if faces else None
        shape = h5["faces"].shape
    fr = Frames(**rows, **extra, faces=crops, attrs=attrs)
    _check_frames(fr, shape, path)
    return fr


def _check_frames(fr: Frames, faces_shape: tuple[int, ...], path: str | Path) -> None:
    T = len(fr.face_found)
    assert fr.face_found.dtype == bool, f"{path}: face_found is {fr.face_found.dtype}"
    assert fr.timestamps.shape == (T,) and fr.frame_index.shape == (T,), path
    assert fr.boxes.shape == (T, 4), f"{path}: boxes {fr.boxes.shape}"
    lead = (fr.copies, T) if fr.copies else (T,)
    assert faces_shape[:-2] == lead and len(faces_shape) == len(lead) + 2, (
        f"{path}: faces {faces_shape} with {COPIES}={fr.copies}, T={T}"
    )


@contextmanager
def open_faces(path: str | Path) -> Iterator[h5py.Dataset]:
    """The frames file's ``faces`` dataset, left on disk for block reads: (T, S, S) uint8, or
    (K, T, S, S) in a file with copies."""
    with h5py.File(path, "r") as h5:
        yield h5["faces"]


def write_frames(path: str | Path, fr: Frames) -> None:
    """Write a whole frames file at once (augmented copies: ``fr.faces`` (K, T, S, S) and
    ``fr.attrs[COPIES]`` = K)."""
    assert fr.faces is not None, "write_frames needs the crops"
    _check_frames(fr, fr.faces.shape, path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".h5.part")
    with h5py.File(tmp, "w") as h5:
        h5.create_dataset("faces", data=fr.faces, compression="gzip", chunks=True)
        for k in _FRAME_ROWS:
            h5.create_dataset(k, data=getattr(fr, k))
        for k in ("keypoints", "mesh"):
            if getattr(fr, k) is not None:
                h5.create_dataset(k, data=getattr(fr, k))
        h5.attrs.update({COPIES: 0, **fr.attrs})
    tmp.replace(path)


GZIP1 = {"compression": "gzip", "compression_opts": 1}


class FramesWriter:
    """Streams a session's frames into a frames file as they are found, ``block`` rows at a
    time. The face crops are stored uncompressed: gzip (level 1) halved the file but cost
    0.26 ms a frame to write and 0.08 ms to read back, 7% of the frames and features jobs' time
    on a 10-minute video; the per-frame rows (boxes, key points, mesh) are gzip-compressed.

    Use as a context manager; :meth:`add` one row per sampled frame, then :meth:`close` with the
    attributes (``fps`` among them). The file appears under its name only once closed."""

    def __init__(
        self,
        path: str | Path,
        *,
        crop_size: int,
        keypoints: int,
        mesh_points: int = 0,
        block: int = 256,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_suffix(".h5.part")
        self.block = block
        specs = {
            "faces": ((crop_size, crop_size), "uint8"),
            "timestamps": ((), "float64"),
            "frame_index": ((), "int64"),
            "boxes": ((4,), "int32"),
            "face_found": ((), "bool"),
            "keypoints": ((keypoints, 2), "float32"),
            **({"mesh": ((mesh_points, 3), "float32")} if mesh_points else {}),
        }
        self.h5 = h5py.File(self.tmp, "w")
        self.buf: dict[str, list] = {k: [] for k in specs}
        self.ds = {
            k: self.h5.create_dataset(
                k,
                shape=(0, *shape),
                maxshape=(None, *shape),
                dtype=dtype,
                chunks=(block, *shape),
                **(GZIP1 if shape and k != "faces" else {}),
            )
            for k, (shape, dtype) in specs.items()
        }

    def __enter__(self) -> FramesWriter:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if self.h5:  # an error before close(): leave no half-written file under the name
            self.h5.close()
            self.h5 = None
            self.tmp.unlink(missing_ok=True)

    def add(self, **row) -> None:
        """One sampled frame: ``faces``, ``timestamps``, ``frame_index``, ``boxes``,
        ``face_found``, ``keypoints`` (and ``mesh`` when the writer has it)."""
        assert row.keys() == self.buf.keys(), f"frame row {sorted(row)} != {sorted(self.buf)}"
        for k, v in row.items():
            self.buf[k].append(v)
        if len(self.buf["face_found"]) >= self.block:
            self._flush()

    def _flush(self) -> None:
        n = len(self.buf["face_found"])
        if not n:
            return
        for k, ds in self.ds.items():
            start = ds.shape[0]
            ds.resize(start + n, axis=0)
            ds[start:] = np.asarray(self.buf[k], dtype=ds.dtype)
            self.buf[k].clear()

    def close(self, attrs: dict[str, Any], dataset_attrs: dict[str, dict] | None = None) -> None:
        """Write the remaining rows and the attributes (``fps`` required), then move the file
        to its name."""
        assert FPS in attrs, f"{self.path}: frames attributes need {FPS!r}"
        self._flush()
        self.h5.attrs.update({COPIES: 0, **attrs})
        for name, a in (dataset_attrs or {}).items():
            self.h5[name].attrs.update(a)
        self.h5.close()
        self.h5 = None
        self.tmp.replace(self.path)


# --------------------------------------------------------------------------------------------
# features HDF5
# --------------------------------------------------------------------------------------------


@dataclass
class Features:
    """The CNN's outputs over one session timeline.

    ``features`` (T, D) float32 penultimate-layer activations (0 without a face);
    ``probabilities`` (T, C) float32 softmax outputs (NaN without a face); ``face_found`` (T,)
    bool; ``timestamps`` (T,) s; ``frame_index`` (T,) int64; ``emotions``: the C names;
    ``attrs``: provenance (``fps``, ``model``, ``model_sha256``, ``inference``, ``source``,
    ``source_sha256``, ``frames_file``, ``crop_geometry`` JSON, ``stored_crop_margin``)."""

    features: np.ndarray
    probabilities: np.ndarray
    face_found: np.ndarray
    timestamps: np.ndarray
    frame_index: np.ndarray
    emotions: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return float(self.attrs[FPS])


_FEATURE_ROWS = ("face_found", "timestamps", "frame_index")


def read_feature_copies(path: str | Path) -> list[Features]:
    """Every timeline of a features file: K of them for a file of augmented copies, one for a
    plain session file; each (T, ...)."""
    with h5py.File(path, "r") as h5:
        attrs = _attrs(h5)
        assert FPS in attrs and COPIES in attrs, f"{path}: not a features file of this version"
        rows = {k: h5[k][...] for k in _FEATURE_ROWS}
        feats, probs = h5["features"][...], h5["probabilities"][...]
    emotions = json.loads(attrs.pop("emotions"))
    K, T, C = int(attrs[COPIES]), len(rows["face_found"]), len(emotions)
    if K == 0:
        feats, probs = feats[None], probs[None]
    assert feats.ndim == 3 and feats.shape[:2] == (max(K, 1), T), f"{path}: {feats.shape}"
    assert probs.shape == (max(K, 1), T, C), f"{path}: probabilities {probs.shape}, {C} emotions"
    assert rows["face_found"].dtype == bool, f"{path}: face_found is {rows['face_found'].dtype}"
    return [
        Features(features=f, probabilities=p, emotions=emotions, attrs=attrs, **rows)
        for f, p in zip(feats, probs, strict=True)
    ]


def read_features(path: str | Path, emotions: Sequence[str] | None = None) -> Features:
    """A plain (not augmented) session's features file; with ``emotions``, asserts the file was
    made for that emotion list."""
    copies = read_feature_copies(path)
    assert len(copies) == 1 and not copies[0].attrs[COPIES], f"{path}: holds augmented copies"
    f = copies[0]
    assert emotions is None or f.emotions == list(emotions), (
        f"{path}: features were made for emotions {f.emotions}, not {list(emotions)}: "
        "rerun its features job"
    )
    return f


def write_features(path: str | Path, timelines: Features | list[Features]) -> None:
    """Write one session's features, or (a list) the K augmented copies of one session, which
    share their rows and attributes (the first copy's) and are stored (K, T, ...)."""
    many = isinstance(timelines, list)
    copies = timelines if many else [timelines]
    first = copies[0] if copies else None
    assert first is not None, f"{path}: no timeline to write"
    T = len(first.face_found)
    for f in copies:
        assert f.features.shape[0] == T and f.probabilities.shape == (T, len(first.emotions))
        assert f.features.ndim == 2 and f.face_found.shape == (T,)
    # no copy of a single timeline's arrays (they are the job's largest: T x D float32)
    feats, probs = (
        (np.stack([f.features for f in copies]), np.stack([f.probabilities for f in copies]))
        if many
        else (first.features, first.probabilities)
    )
    feats, probs = np.asarray(feats, np.float32), np.asarray(probs, np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".h5.part")
    with h5py.File(tmp, "w") as h5:
        _float_dataset(h5, "features", feats)
        _float_dataset(h5, "probabilities", probs)
        for k in _FEATURE_ROWS:
            h5.create_dataset(k, data=getattr(first, k))
        attrs = {**first.attrs, "emotions": json.dumps(list(first.emotions))}
        attrs[COPIES] = len(copies) if many else 0
        assert FPS in attrs, f"{path}: features attributes need {FPS!r}"
        h5.attrs.update(attrs)
    tmp.replace(path)


def _float_dataset(h5: h5py.File, name: str, data: np.ndarray) -> None:
    """A gzip-compressed float32 dataset chunked by up to 256 frames along the time axis."""
    if 0 in data.shape:
        h5.create_dataset(name, data=data)
        return
    rows = min(256, data.shape[-2])
    chunks = (*([1] * (data.ndim - 2)), rows, data.shape[-1])
    h5.create_dataset(name, data=data, chunks=chunks, compression="gzip")


# --------------------------------------------------------------------------------------------
# predictions CSV
# --------------------------------------------------------------------------------------------


@dataclass
class Predictions:
    """One session's prediction timeline, as in ``results/predictions/{session}.csv``.

    ``time_s`` (T,) s; ``frame_index`` (T,) int; ``face_found`` (T,) bool; ``probabilities``
    (T, C) of the chosen method (a NaN row = no prediction); ``label`` (T,) object, the argmax
    emotion name or '' without a prediction; ``cnn_label`` / ``cnn_confidence`` (T,) the
    per-frame CNN's argmax name and its probability ('' / NaN without a face)."""

    time_s: np.ndarray
    frame_index: np.ndarray
    face_found: np.ndarray
    probabilities: np.ndarray
    label: np.ndarray
    cnn_label: np.ndarray
    cnn_confidence: np.ndarray
    emotions: list[str]

    @classmethod
    def from_probabilities(cls, cnn: Features, probs: np.ndarray) -> Predictions:
        """The timeline of ``probs`` (T, C; NaN rows = no prediction) over the session of
        ``cnn``, whose per-frame CNN outputs fill ``cnn_label`` and ``cnn_confidence``."""
        found, p = cnn.face_found, cnn.probabilities
        names = np.array(cnn.emotions, dtype=object)
        has = ~np.isnan(probs).any(axis=1)
        return cls(
            time_s=np.asarray(cnn.timestamps, np.float64),
            frame_index=cnn.frame_index,
            face_found=found,
            probabilities=probs,
            label=np.where(has, names[np.nan_to_num(probs).argmax(axis=1)], ""),
            cnn_label=np.where(found, names[np.nan_to_num(p).argmax(axis=1)], ""),
            cnn_confidence=np.where(found, np.nanmax(np.nan_to_num(p, nan=0.0), axis=1), np.nan),
            emotions=list(cnn.emotions),
        )

    def table(self) -> pd.DataFrame:
        """The CSV's table: ``time_s, frame_index, face_found`` (0/1), one probability column
        per emotion, ``label``, ``cnn_label``, ``cnn_confidence``."""
        import pandas as pd

        df = pd.DataFrame(
            {
                "time_s": np.round(self.time_s, 4),
                "frame_index": self.frame_index,
                "face_found": self.face_found.astype(int),
            }
        )
        for i, e in enumerate(self.emotions):
            df[e] = self.probabilities[:, i]
        df["label"] = self.label
        df["cnn_label"] = self.cnn_label
        df["cnn_confidence"] = self.cnn_confidence
        return df


PREDICTION_LEAD = ("time_s", "frame_index", "face_found")
PREDICTION_TAIL = ("label", "cnn_label", "cnn_confidence")


def write_predictions(path: str | Path, p: Predictions) -> pd.DataFrame:
    """Write the timeline CSV (probabilities with 5 decimals; '' for no label); returns its
    table."""
    df = p.table()
    df.to_csv(path, index=False, float_format="%.5f")
    return df


def read_predictions(path: str | Path, emotions: Sequence[str] | None = None) -> Predictions:
    """Read a timeline CSV; with ``emotions``, asserts it has those probability columns."""
    import pandas as pd

    df = pd.read_csv(path, dtype={"label": str, "cnn_label": str})
    df[["label", "cnn_label"]] = df[["label", "cnn_label"]].fillna("")
    cols = list(df.columns)
    names = cols[len(PREDICTION_LEAD) : -len(PREDICTION_TAIL)]
    assert tuple(cols[: len(PREDICTION_LEAD)]) == PREDICTION_LEAD, f"{path}: columns {cols}"
    assert tuple(cols[-len(PREDICTION_TAIL) :]) == PREDICTION_TAIL, f"{path}: columns {cols}"
    assert names and (emotions is None or names == list(emotions)), (
        f"{path}: emotion columns {names}, expected {emotions}"
    )

    def num(col: str | list[str]) -> np.ndarray:
        return df[col].to_numpy(dtype=np.float64)

    time = num("time_s")
    assert np.isfinite(time).all() and (np.diff(time) >= 0).all(), f"{path}: time_s not rising"
    found = df["face_found"].to_numpy()
    assert np.isin(found, (0, 1)).all(), f"{path}: face_found not 0/1"
    label = df["label"].to_numpy(dtype=object)
    cnn_label = df["cnn_label"].to_numpy(dtype=object)
    known = {*names, ""}
    for col, v in (("label", label), ("cnn_label", cnn_label)):
        bad = sorted(set(v) - known)
        assert not bad, f"{path}: {col} {bad} not among the columns' emotions {names}"
    return Predictions(
        time_s=time,
        frame_index=df["frame_index"].to_numpy(dtype=np.int64),
        face_found=found.astype(bool),
        probabilities=num(names),
        label=label,
        cnn_label=cnn_label,
        cnn_confidence=num("cnn_confidence"),
        emotions=names,
    )


# --------------------------------------------------------------------------------------------
# pseudo labels
# --------------------------------------------------------------------------------------------

NO_FACE = -1
_PSEUDO_DTYPE = [("time_s", "f8"), ("label", "i8"), ("confidence", "f4"), ("face_found", "?")]


@dataclass
class PseudoLabels:
    """The CNN's per-frame decisions a sequence model is trained on: ``time_s`` (T,) s,
    ``label`` (T,) int index into ``emotions`` (-1 without a face), ``confidence`` (T,) float32
    max probability (NaN without a face), ``face_found`` (T,) bool; ``model_sha256`` of the
    CNN. ``emotions`` and ``model_sha256`` live in the JSON file only."""

    time_s: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    face_found: np.ndarray
    emotions: list[str] = field(default_factory=list)
    model_sha256: str = ""

    def summary(self) -> dict:
        """The JSON file's content without its ``frames`` list."""
        found = self.face_found
        return {
            "emotions": self.emotions,
            "model_sha256": self.model_sha256,
            "n_frames": len(found),
            "n_faces": int(found.sum()),
            "counts": {e: int((self.label == i).sum()) for i, e in enumerate(self.emotions)},
            "mean_confidence": float(np.nanmean(self.confidence)) if found.any() else None,
        }


def write_pseudolabels(out_npy: str | Path, out_json: str | Path, pl: PseudoLabels) -> dict:
    """``out_npy``: a structured array (T,) with fields ``time_s``, ``label``, ``confidence``,
    ``face_found``; ``out_json``: the summary plus the same per frame (labels by name). Returns
    the summary."""
    rec = np.zeros(len(pl.face_found), dtype=_PSEUDO_DTYPE)
    for k, _ in _PSEUDO_DTYPE:
        rec[k] = getattr(pl, k)
    np.save(out_npy, rec)
    summary = pl.summary()
    frames = [
        {
            "time_s": round(float(r["time_s"]), 4),
            "label": pl.emotions[r["label"]] if r["label"] >= 0 else None,
            "confidence": None if np.isnan(r["confidence"]) else round(float(r["confidence"]), 4),
            "face_found": bool(r["face_found"]),
        }
        for r in rec
    ]
    Path(out_json).write_text(json.dumps({**summary, "frames": frames}, indent=1))
    return summary


def read_pseudolabels(npy: str | Path) -> PseudoLabels:
    """The per-frame arrays of a pseudo-label ``.npy`` file (``emotions``: its JSON's, when the
    ``.json`` lies beside it)."""
    rec = np.load(npy)
    assert rec.dtype == np.dtype(_PSEUDO_DTYPE), f"{npy}: dtype {rec.dtype}"
    js = Path(npy).with_suffix(".json")
    meta = json.loads(js.read_text()) if js.is_file() else {}
    return PseudoLabels(
        **{k: rec[k] for k, _ in _PSEUDO_DTYPE},
        emotions=list(meta.get("emotions", [])),
        model_sha256=str(meta.get("model_sha256", "")),
    )


# --------------------------------------------------------------------------------------------
# trends CSV
# --------------------------------------------------------------------------------------------

TREND_LEAD = ("time_s", "face_found")


def write_trends(path: str | Path, table: pd.DataFrame, emotions: Sequence[str]) -> None:
    """The smoothed series of one session: ``time_s``, ``face_found`` (0/1), one smoothed
    probability column per emotion, ``dominant`` (emotion name, '' where none)."""
    cols = [*TREND_LEAD, *emotions, "dominant"]
    assert list(table.columns) == cols, f"{path}: trend columns {list(table.columns)} != {cols}"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format="%.5g")


def read_trends(path: str | Path, emotions: Sequence[str]) -> pd.DataFrame:
    """A trends CSV as written by :func:`write_trends` ('' dominant read back as '')."""
    import pandas as pd

    df = pd.read_csv(path, dtype={"dominant": str})
    cols = [*TREND_LEAD, *emotions, "dominant"]
    assert list(df.columns) == cols, f"{path}: trend columns {list(df.columns)} != {cols}"
    df["dominant"] = df["dominant"].fillna("")
    return df


# --------------------------------------------------------------------------------------------
# labelled clip set HDF5 (the "Labelled clips" branch: results/clips/{dataset}/clips.h5)
# --------------------------------------------------------------------------------------------

SPLITS = ("train", "validation", "test")


@dataclass
class ClipSet:
    """A labelled clip set after loading: every clip resampled to the same length T.

    ``faces`` (N, T, S, S) uint8 grey face crops; ``present`` (N, T) bool (False: padding, or no
    face found in that frame); ``labels`` (N,) int64 index into ``classes``; ``classes`` the label
    names, in model-output order; ``subjects`` (N,) str; ``clip_ids`` (N,) str (the clip's name in
    its dataset: file stem or folder); ``split`` (N,) str, one of :data:`SPLITS` (by subject: no
    subject in two splits); ``valence`` / ``arousal`` (N, T) float32 on -1..1, NaN where the
    dataset has none; ``landmarks`` (N, T, 468, 3) float32 face-mesh points in crop-relative
    coordinates (x, y in 0..1 of the crop, z on the same scale), NaN where no face, or None when
    not computed; ``attrs``: provenance (``source``, ``format``, ``length``, ``seed``, ...)."""

    faces: np.ndarray
    present: np.ndarray
    labels: np.ndarray
    classes: list[str]
    subjects: np.ndarray
    clip_ids: np.ndarray
    split: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    landmarks: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def length(self) -> int:
        return int(self.faces.shape[1])

    def subset(self, split: str) -> ClipSet:
        """The clips of one split (same classes and attributes)."""
        return self.select(self.split == split)

    def select(self, keep: np.ndarray) -> ClipSet:
        """The clips where ``keep`` (a boolean mask over clips) is True."""
        lm = None if self.landmarks is None else self.landmarks[keep]
        return ClipSet(
            **{k: getattr(self, k)[keep] for k in (*_CLIP_NUM, *_CLIP_STR)},
            classes=list(self.classes),
            landmarks=lm,
            attrs=dict(self.attrs),
        )


_CLIP_STR = ("subjects", "clip_ids", "split")
_CLIP_NUM = ("faces", "present", "labels", "valence", "arousal")


def write_clips(path: str | Path, cs: ClipSet) -> None:
    """Write a clip set (see :class:`ClipSet`)."""
    _check_clips(cs, path)
    with h5py.File(path, "w") as h5:
        for k in _CLIP_NUM:
            h5.create_dataset(k, data=getattr(cs, k), compression="gzip" if k == "faces" else None)
        for k in _CLIP_STR:
            h5.create_dataset(
                k, data=np.asarray(getattr(cs, k), dtype=object), dtype=h5py.string_dtype()
            )
        if cs.landmarks is not None:
            h5.create_dataset("landmarks", data=cs.landmarks.astype(np.float32), compression="gzip")
        h5.attrs.update({**cs.attrs, "classes": json.dumps(list(cs.classes))})


def read_clips(path: str | Path, *, split: str | None = None) -> ClipSet:
    """Read a clip set, all of it or one split's clips."""
    with h5py.File(path, "r") as h5:
        attrs = _attrs(h5)
        assert "classes" in attrs, f"{path}: not a clip set of this version"
        classes = json.loads(attrs.pop("classes"))
        num = {k: h5[k][...] for k in _CLIP_NUM}
        txt = {k: h5[k].asstr()[...].astype(str) for k in _CLIP_STR}
        lm = h5["landmarks"][...] if "landmarks" in h5 else None
    cs = ClipSet(**num, **txt, classes=classes, landmarks=lm, attrs=attrs)
    _check_clips(cs, path)
    return cs if split is None else cs.subset(split)


def _check_clips(cs: ClipSet, path: str | Path) -> None:
    N, T = cs.faces.shape[:2]
    assert cs.faces.ndim == 4 and cs.faces.dtype == np.uint8, f"{path}: faces {cs.faces.shape}"
    assert cs.present.shape == (N, T) and cs.present.dtype == bool, f"{path}: present"
    assert cs.labels.shape == (N,) and cs.labels.min(initial=0) >= 0, f"{path}: labels"
    assert cs.labels.max(initial=-1) < len(cs.classes), f"{path}: label outside classes"
    assert cs.valence.shape == (N, T) and cs.arousal.shape == (N, T), f"{path}: valence/arousal"
    for k in _CLIP_STR:
        assert len(getattr(cs, k)) == N, f"{path}: {k}"
    assert set(np.unique(cs.split)) <= set(SPLITS), f"{path}: split {set(cs.split)}"
    if cs.landmarks is not None:
        assert cs.landmarks.shape[:2] == (N, T) and cs.landmarks.shape[2:] == (468, 3), path
