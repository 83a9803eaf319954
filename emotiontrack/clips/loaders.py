"""Labelled clip sets in their real layouts -> one :class:`~emotiontrack.formats.ClipSet`.

Three layouts (``format`` in the config's ``clips.datasets``):

- ``ckplus``: ``<root>/<class>/S010_004_00000017.png`` (CK+48 / Kaggle layout): subject
  ``S010``, sequence ``004``, frame ``00000017``; the frames of one (subject, sequence) in one
  class folder, in frame order, form a clip. The frames usually are face crops already
  (``detect: false``).
- ``cremad``: ``<root>/1001_DFA_ANG_XX.<ext>`` video clips (actor, sentence, emotion code ANG
  DIS FEA HAP NEU SAD, level LO MD HI XX) in any container OpenCV reads; subject = the actor;
  classes are named as the FER emotions (:data:`CREMAD_CLASSES`).
- ``afewva``: ``<root>/<clip>/<clip>.json`` with ``actor`` and ``frames: {"00000": {"valence",
  "arousal", "landmarks"}}`` (valence/arousal on -10..10) beside the frames ``00000.png``...
  (or ``.jpg``); subject = ``actor``. Its classes are valence/arousal clusters
  (:mod:`emotiontrack.clips.va`), given to :func:`load_clips` as a clip -> class mapping. The
  set's own landmarks are only used to check the detected face (``landmark_check``).

Every clip is resampled to ``length`` frames (evenly spaced; a shorter clip keeps all its frames
and is padded, ``present`` False). With ``detect`` each kept frame's face is found by the
frames stage's finder (:func:`emotiontrack.faces.face_finder`) and cut with its crop
(:func:`emotiontrack.crops.stored_crop`); without, the frame is the crop, resized to
:data:`GIVEN_CROP_SIZE`. With ``landmarks`` the 468-point face mesh
(:class:`emotiontrack.blazeface.FaceMesh`) is computed per kept frame, in crop-relative
coordinates. Clips are split into train/validation/test by subject (:func:`split_by_subject`).

Whatever a user can get wrong (a missing folder, a badly named file, an unreadable image or
video, a JSON without the expected keys, a class with no clips, too few subjects to split)
raises :class:`~emotiontrack.UserInputError` naming the file and the problem.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emotiontrack import UserInputError
from emotiontrack.blazeface import MESH_POINTS, FaceMesh
from emotiontrack.clips.faces import GIVEN_CROP_SIZE, crop_frames, landmark_agreement
from emotiontrack.crops import STORED_MARGIN, STORED_SIZE
from emotiontrack.faces import face_finder
from emotiontrack.formats import SPLITS, ClipSet, write_clips
from emotiontrack.labels import canonical
from emotiontrack.video import probe_video, sample_frames

log = logging.getLogger(__name__)

FORMATS = ("ckplus", "cremad", "afewva")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
CKPLUS_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)$")
CREMAD_NAME = re.compile(r"^(\d+)_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
CREMAD_CLASSES = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
VA_RANGE = 10.0  # AFEW-VA's valence/arousal scale (-10..10); the clip set keeps -1..1


@dataclass
class RawClip:
    """One clip as found on disk, before any frame is read: ``frames`` its image files in order
    (``video`` None) or ``video`` its video file; ``label`` its class ('' for AFEW-VA before
    clustering); per-frame ``valence``/``arousal`` on -1..1 and the set's own ``ref_landmarks``
    (F, P, 2) pixels, when the dataset has them."""

    clip_id: str
    subject: str
    label: str
    frames: list[Path] = field(default_factory=list)
    video: Path | None = None
    valence: np.ndarray | None = None
    arousal: np.ndarray | None = None
    ref_landmarks: np.ndarray | None = None
    where: str = ""  # the file or folder named in messages


def _root(root: str | Path, fmt: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise UserInputError(f"{root}: {fmt} clip set folder not found (clips.datasets path)")
    return root


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def scan_ckplus(root: str | Path) -> list[RawClip]:
    """CK+-style ``<class>/S010_004_00000017.png``: one clip per (class, subject, sequence)."""
    root = _root(root, "ckplus")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserInputError(
            f"{root}: no class folders; a CK+-style set holds <class>/S010_004_00000017.png"
        )
    clips = []
    for folder in classes:
        files = _images(folder)
        if not files:
            raise UserInputError(f"{folder}: class folder {folder.name!r} holds no frames")
        seqs: dict[tuple[str, str], list[tuple[int, Path]]] = {}
        for f in files:
            m = CKPLUS_NAME.match(f.stem)
            if not m:
                raise UserInputError(
                    f"{f}: not a CK+ frame name; expected <subject>_<sequence>_<frame>, "
                    "e.g. S010_004_00000017.png"
                )
            seqs.setdefault((m[1], m[2]), []).append((int(m[3]), f))
        for (subject, seq), frames in sorted(seqs.items()):
            clips.append(
                RawClip(
                    clip_id=f"{subject}_{seq}",
                    subject=subject,
                    label=folder.name,
                    frames=[p for _, p in sorted(frames)],
                    where=str(folder / f"{subject}_{seq}_*"),
                )
            )
    ids = [c.clip_id for c in clips]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise UserInputError(
            f"{root}: sequence(s) {dup[:5]} appear in more than one class folder; "
            "each sequence belongs to one class"
        )
    return clips


def scan_cremad(root: str | Path) -> list[RawClip]:
    """CREMA-D-style ``1001_DFA_ANG_XX.<ext>`` videos: subject = actor, class from the code."""
    root = _root(root, "cremad")
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    clips = []
    for f in files:
        m = CREMAD_NAME.match(f.stem)
        if not m:
            raise UserInputError(
                f"{f}: not a CREMA-D clip name; expected <actor>_<sentence>_<emotion>_<level>"
                f".<ext>, e.g. 1001_DFA_ANG_XX.flv (emotion one of {', '.join(CREMAD_CLASSES)})"
            )
        if m[3] not in CREMAD_CLASSES:
            raise UserInputError(
                f"{f}: unknown CREMA-D emotion code {m[3]!r}; expected one of "
                f"{', '.join(CREMAD_CLASSES)}"
            )
        clips.append(
            RawClip(clip_id=f.stem, subject=m[1], label=CREMAD_CLASSES[m[3]], video=f, where=str(f))
        )
    if not clips:
        raise UserInputError(f"{root}: no video clips (expected 1001_DFA_ANG_XX.<ext> files)")
    return clips


def _afewva_clip(folder: Path) -> RawClip:
    doc_path = folder / f"{folder.name}.json"
    if not doc_path.is_file():
        raise UserInputError(
            f"{doc_path}: annotation file not found (each AFEW-VA clip folder holds "
            "<clip>/<clip>.json beside its frames)"
        )
    try:
        doc = json.loads(doc_path.read_text())
    except (OSError, ValueError) as e:
        raise UserInputError(f"{doc_path}: not readable JSON ({e})") from None
    if not isinstance(doc, dict) or "actor" not in doc or "frames" not in doc:
        raise UserInputError(f"{doc_path}: missing key(s) 'actor' and/or 'frames'")
    entries = doc["frames"]
    if not isinstance(entries, dict) or not entries:
        raise UserInputError(f"{doc_path}: 'frames' is empty or not a mapping frame -> values")
    files, va, lms = [], [], []
    for key in sorted(entries):
        e = entries[key]
        missing = [k for k in ("valence", "arousal") if not isinstance(e, dict) or k not in e]
        if missing:
            raise UserInputError(f"{doc_path}: frame {key!r} lacks {' and '.join(missing)}")
        try:
            v, a = float(e["valence"]), float(e["arousal"])
        except (TypeError, ValueError):
            raise UserInputError(
                f"{doc_path}: frame {key!r}: valence/arousal not numbers"
            ) from None
        if not (abs(v) <= VA_RANGE and abs(a) <= VA_RANGE):
            raise UserInputError(
                f"{doc_path}: frame {key!r}: valence {v:g} / arousal {a:g} outside "
                f"-{VA_RANGE:g}..{VA_RANGE:g}"
            )
        image = next(
            (folder / f"{key}{s}" for s in IMAGE_SUFFIXES if (folder / f"{key}{s}").is_file()), None
        )
        if image is None:
            raise UserInputError(
                f"{folder}: frame {key!r} of {doc_path.name} has no image {key}.png"
            )
        files.append(image)
        va.append((v / VA_RANGE, a / VA_RANGE))
        lm = np.asarray(e.get("landmarks") or [], np.float64)
        lms.append(lm if lm.ndim == 2 and lm.shape[1] >= 2 else None)
    ref = None
    if all(x is not None for x in lms) and len({x.shape for x in lms}) == 1:
        ref = np.stack(lms)[..., :2]
    va = np.asarray(va, np.float32)
    return RawClip(
        clip_id=folder.name,
        subject=str(doc["actor"]),
        label="",
        frames=files,
        valence=va[:, 0],
        arousal=va[:, 1],
        ref_landmarks=ref,
        where=str(doc_path),
    )


def scan_afewva(root: str | Path) -> list[RawClip]:
    """AFEW-VA-style clip folders ``<clip>/<clip>.json`` + frames; label left '' (clusters)."""
    root = _root(root, "afewva")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UserInputError(f"{root}: no clip folders (expected <clip>/<clip>.json + frames)")
    return [_afewva_clip(f) for f in folders]


def scan(fmt: str, root: str | Path) -> list[RawClip]:
    """The clips of a set in layout ``fmt`` (:data:`FORMATS`), nothing decoded yet."""
    scanners = {"ckplus": scan_ckplus, "cremad": scan_cremad, "afewva": scan_afewva}
    if fmt not in scanners:
        raise UserInputError(f"unknown clip set format {fmt!r}; use one of {', '.join(FORMATS)}")
    return scanners[fmt](root)


def resample_indices(n: int, length: int) -> np.ndarray:
    """(length,) frame indices of a clip of ``n`` frames: ``length`` evenly spaced ones from the
    first to the last frame, or, for a clip shorter than ``length``, every frame then -1
    (padding)."""
    if n >= length:
        return np.rint(np.linspace(0, n - 1, length)).astype(np.int64)
    return np.r_[np.arange(n), np.full(length - n, -1)].astype(np.int64)


def split_by_subject(
    subjects: Sequence[str],
    labels: Sequence[int],
    *,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
    tries: int = 200,
    where: str = "clip set",
) -> np.ndarray:
    """(N,) split name per clip: subjects shuffled (``seed``), ``test_fraction`` of them (at
    least one) to test, ``validation_fraction`` of the rest (at least one when > 0) to
    validation, the rest to train; no subject in two splits. Among ``tries`` seeded shuffles the
    first whose train split holds every class is taken (else the first, with a warning). Raises
    UserInputError when there are too few subjects for a train and a test subject (and a
    validation one when asked)."""
    subjects = np.asarray(subjects, dtype=str)
    labels = np.asarray(labels)
    people = np.unique(subjects)
    n = len(people)
    n_test = max(1, int(round(test_fraction * n)))
    n_val = max(1, int(round(validation_fraction * (n - n_test)))) if validation_fraction else 0
    need = 2 + (1 if validation_fraction else 0)
    if n < need or n - n_test - n_val < 1:
        raise UserInputError(
            f"{where}: {n} subject(s) ({', '.join(people[:6])}) are too few to split by subject "
            f"into train{', validation' if n_val else ''} and test (at least {need}); add subjects "
            "or set validation_fraction: 0"
        )
    rng = np.random.default_rng(seed)
    classes = set(labels.tolist())
    first = None
    for _ in range(tries):
        order = rng.permutation(people)
        test, val = set(order[:n_test]), set(order[n_test : n_test + n_val])
        split = np.where(
            np.isin(subjects, list(test)),
            "test",
            np.where(np.isin(subjects, list(val)), "validation", "train"),
        )
        first = split if first is None else first
        if set(labels[split == "train"].tolist()) == classes:
            return split
    log.warning("%s: no split by subject puts every class in train; some are missing", where)
    return first


def _read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise UserInputError(f"{path}: not a readable image (corrupt, or not an image file)")
    return img


def _video_frames(path: Path, idx: np.ndarray) -> tuple[list[np.ndarray | None], int]:
    """The BGR frames at ``idx`` (-1: None) of a video, decoded once from its start up to the
    last one wanted; and the frames decoded (all of them when one wanted was not reached)."""
    wanted = {int(i) for i in idx if i >= 0}
    got: dict[int, np.ndarray] = {}
    n = 0
    _, frames = sample_frames(path, 1e6)  # every frame
    for i, _, frame in frames:
        n = i + 1
        if i in wanted:
            got[i] = frame
            if len(got) == len(wanted):
                break
    return [None if i < 0 else got.get(int(i)) for i in idx], n


def read_clip_frames(clip: RawClip, length: int) -> tuple[list[np.ndarray | None], np.ndarray, int]:
    """A clip's ``length`` frames (:func:`resample_indices`; None for padding), their indices
    and the clip's frame count. A video is sampled by its container's frame count and decoded
    once; when the count was wrong (a frame wanted past the end), again by the decoded count.
    Raises UserInputError naming an unreadable image or video, or a clip with no frames."""
    if clip.video is None:
        n = len(clip.frames)
        idx = resample_indices(n, length)
        return [None if i < 0 else _read_image(clip.frames[i]) for i in idx], idx, n
    n = probe_video(clip.video).n_frames
    if n > 0:
        idx = resample_indices(n, length)
        images, decoded = _video_frames(clip.video, idx)
        if all(im is not None for i, im in zip(idx, images, strict=True) if i >= 0):
            return images, idx, n
        n = decoded
    else:
        _, frames = sample_frames(clip.video, 1e6)
        n = sum(1 for _ in frames)
    if n == 0:
        raise UserInputError(f"{clip.where}: a video with no decodable frame")
    idx = resample_indices(n, length)
    images, _ = _video_frames(clip.video, idx)
    return images, idx, n


def _choose_classes(
    clips: list[RawClip], classes: Sequence[str], where: str
) -> tuple[list[RawClip], list[str]]:
    found = sorted({c.label for c in clips})
    if not classes:
        return clips, found
    absent = [c for c in classes if c not in found]
    if absent:
        raise UserInputError(
            f"{where}: class(es) {absent} have no clips (classes found: {', '.join(found)}); "
            "fix clips.datasets.<name>.classes"
        )
    return [c for c in clips if c.label in classes], list(classes)


def _labelled(
    raw: list[RawClip],
    fmt: str,
    classes: Sequence[str],
    va_classes: dict[str, str] | None,
    class_order: Sequence[str],
    where: str,
) -> tuple[list[RawClip], list[str]]:
    """The clips kept and the class names in order: AFEW-VA's labelled by ``va_classes``;
    ``classes`` if given, else every class found (those of ``class_order`` first)."""
    if fmt == "afewva":
        if va_classes is None:
            raise UserInputError(f"{where}: AFEW-VA clips need their valence/arousal classes")
        unknown = [c.clip_id for c in raw if c.clip_id not in va_classes]
        if unknown:
            raise UserInputError(
                f"{where}: clip(s) {unknown[:5]} have no valence/arousal class (the clusters "
                "file is older than the set? rerun va_clusters)"
            )
        for c in raw:
            c.label = va_classes[c.clip_id]
    if not classes and class_order:  # every class found, those of class_order first
        found = sorted({c.label for c in raw})
        classes = [
            *(c for c in class_order if c in found),
            *(c for c in found if c not in class_order),
        ]
    return _choose_classes(raw, classes, where)


@dataclass
class _Read:
    faces: np.ndarray  # (T, S, S) uint8
    present: np.ndarray  # (T,) bool
    va: np.ndarray  # (2, T) valence, arousal -1..1, NaN where none
    landmarks: np.ndarray | None  # (T, 468, 3) crop-relative
    n: int  # frames of the clip
    agreement: float  # landmark_agreement with the set's own landmarks, NaN if none


def _read_clip(clip: RawClip, length: int, finder, mesher: FaceMesh | None) -> _Read:
    """One clip resampled to ``length`` frames, its faces cropped (and meshed)."""
    images, idx, n = read_clip_frames(clip, length)
    lost = [int(k) for k, im in zip(idx, images, strict=True) if k >= 0 and im is None]
    if lost:
        raise UserInputError(f"{clip.where}: frame(s) {lost[:5]} could not be decoded")
    got = crop_frames(images, finder, mesher)
    keep = idx >= 0
    va = np.full((2, length), np.nan, np.float32)
    if clip.valence is not None:
        va[0, keep], va[1, keep] = clip.valence[idx[keep]], clip.arousal[idx[keep]]
    agreement = float("nan")
    if clip.ref_landmarks is not None and finder is not None:
        agreement = landmark_agreement(got.boxes[keep], clip.ref_landmarks[idx[keep]])
    return _Read(got.faces, got.present, va, got.landmarks, n, agreement)


def load_clips(
    fmt: str,
    root: str | Path,
    *,
    length: int,
    detect: bool,
    landmarks: bool = False,
    classes: Sequence[str] = (),
    test_fraction: float = 0.25,
    validation_fraction: float = 0.15,
    seed: int = 0,
    va_classes: dict[str, str] | None = None,
    class_order: Sequence[str] = (),
    finder_options: dict | None = None,
) -> ClipSet:
    """Read the clip set at ``root`` in layout ``fmt`` into a :class:`ClipSet` (see the module's
    docstring): ``length`` frames per clip, faces found (``detect``) or given, optional face
    mesh (``landmarks``), only ``classes`` (in that order; empty = all, sorted or in
    ``class_order``), split by subject (``test_fraction``, ``validation_fraction``, ``seed``).
    ``va_classes``: AFEW-VA's clip id -> class (the valence/arousal clusters), required for
    ``afewva``. ``finder_options``: the frames stage's finder keys (``detector``,
    ``detector_model``, ...; :func:`~emotiontrack.faces.face_finder`); detection runs in every
    kept frame."""
    raw = scan(fmt, root)
    where = f"{root} ({fmt})"
    raw, names = _labelled(raw, fmt, classes, va_classes, class_order, where)
    index = {c: i for i, c in enumerate(names)}
    labels = np.array([index[c.label] for c in raw], np.int64)
    subjects = np.array([c.subject for c in raw], dtype=str)
    split = split_by_subject(
        subjects,
        labels,
        test_fraction=test_fraction,
        validation_fraction=validation_fraction,
        seed=seed,
        where=where,
    )
    opts = {**(finder_options or {}), "track": False}
    finder = face_finder(**opts) if detect else None
    mesher = FaceMesh() if landmarks else None
    N = len(raw)
    size = STORED_SIZE if detect else GIVEN_CROP_SIZE
    faces = np.zeros((N, length, size, size), np.uint8)
    present = np.zeros((N, length), bool)
    va = np.full((2, N, length), np.nan, np.float32)
    lms = np.full((N, length, MESH_POINTS, 3), np.nan, np.float32) if landmarks else None
    n_frames = np.zeros(N, np.int64)
    agreement = []
    for i, clip in enumerate(raw):
        got = _read_clip(clip, length, finder, mesher)
        faces[i], present[i], va[:, i], n_frames[i] = got.faces, got.present, got.va, got.n
        if lms is not None:
            lms[i] = got.landmarks
        agreement.append(got.agreement)
        if i % 20 == 0 or i == N - 1:
            log.info("%s: %d/%d clips read", where, i + 1, N)
    kept = int(np.minimum(n_frames, length).sum())  # frames read (not padding)
    rate = float(present.sum() / max(1, kept))
    attrs = {
        "source": str(root),
        "format": fmt,
        "length": int(length),
        "seed": int(seed),
        "detect": bool(detect),
        "crop_size": int(size),
        "margin": float(STORED_MARGIN if detect else 0.0),
        "detector": finder.describe() if finder is not None else "none (frames are face crops)",
        "test_fraction": float(test_fraction),
        "validation_fraction": float(validation_fraction),
        "face_rate": rate,
        "frames_min": int(n_frames.min()),
        "frames_max": int(n_frames.max()),
        "padded_clips": int((n_frames < length).sum()),
        "fer_names": json.dumps([canonical(c) for c in names]),
    }
    good = [a for a in agreement if np.isfinite(a)]
    if good:
        attrs["landmark_check"] = float(np.mean(good))
        log.info(
            "%s: detected face inside the set's own landmarks in %.1f%% of frames",
            where,
            100 * attrs["landmark_check"],
        )
    log.info(
        "%s: %d clips, %d classes, %d subjects; face found in %.1f%% of %d kept frames; split %s",
        where,
        N,
        len(names),
        len(set(subjects)),
        100 * rate,
        kept,
        {s: int((split == s).sum()) for s in SPLITS},
    )
    return ClipSet(
        faces=faces,
        present=present,
        labels=labels,
        classes=names,
        subjects=subjects,
        clip_ids=np.array([c.clip_id for c in raw], dtype=str),
        split=split,
        valence=va[0],
        arousal=va[1],
        landmarks=lms,
        attrs=attrs,
    )


def clip_va_means(root: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """AFEW-VA: (clip ids, subjects, (N, 2) per-clip mean valence and arousal on -1..1), from the
    JSON files alone (no frame decoded)."""
    raw = scan_afewva(root)
    means = np.array([[c.valence.mean(), c.arousal.mean()] for c in raw], np.float64)
    return [c.clip_id for c in raw], [c.subject for c in raw], means


def build_clip_set(
    fmt: str,
    root: str | Path,
    out_h5: str | Path,
    *,
    va_clusters: str | Path | None = None,
    **options,
) -> dict:
    """Read the set (:func:`load_clips` with ``options``; AFEW-VA's classes from the
    ``va_clusters`` JSON of :mod:`emotiontrack.clips.va`) and write it to ``out_h5``
    (:func:`~emotiontrack.formats.write_clips`). Returns a summary (clips, classes, per split)."""
    if va_clusters is not None:
        from emotiontrack.clips.va import read_va_clusters

        order, mapping = read_va_clusters(va_clusters)
        options = {**options, "va_classes": mapping, "class_order": order}
    cs = load_clips(fmt, root, **options)
    write_clips(out_h5, cs)
    return {
        "clips": len(cs),
        "classes": cs.classes,
        "split": {s: int((cs.split == s).sum()) for s in SPLITS},
        "face_rate": cs.attrs["face_rate"],
    }
