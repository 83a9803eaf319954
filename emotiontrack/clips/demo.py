"""Offline demo clip sets in the three real layouts, rendered by the demo face renderer.

- :func:`make_ckplus`: CK+-style ``<class>/S010_004_00000017.png`` gray face crops; the frames
  of one sequence (subject, sequence number) go from neutral to the peak expression.
- :func:`make_cremad`: CREMA-D-style video clips ``1001_DFA_ANG_HI.mp4`` (actor, sentence,
  emotion, level), a face in a room scene; the level sets the peak intensity (``XX``: drawn).
- :func:`make_afewva`: AFEW-VA's layout, ``001/00000.png``... frames of a face in a scene and
  ``001/001.json`` with ``actor``, ``video_id`` and ``frames: {"00000": {"valence", "arousal",
  "landmarks"}}`` (valence/arousal integers on -10..10, 68 (x, y) landmark points in pixels).

Within a class, each clip has its own peak intensity and its frames ramp towards it, so the
generated valence and arousal vary with the intensity of the expression shown (never one
constant per class). Every clip is drawn from a seeded stream derived from (format, subject,
clip), so the same arguments give the same files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from emotiontrack.clips.loaders import CREMAD_CLASSES
from emotiontrack.demo.face import render_face
from emotiontrack.demo.identities import Identity, _stable_seed, identity_for
from emotiontrack.demo.scene import _draw_body, _make_background
from emotiontrack.labels import canonical

# CK+48's folder names (no "contempt": the renderer has no such expression); each shows the
# renderer's emotion of its canonical name (anger -> angry)
CKPLUS_CLASSES = ("anger", "disgust", "fear", "happy", "sadness", "surprise")
CREMAD_SENTENCES = (
    "IEO",
    "TIE",
    "IOM",
    "IWW",
    "TAI",
    "MTI",
    "IWL",
    "ITH",
    "DFA",
    "ITS",
    "TSI",
    "WSI",
)
CREMAD_LEVELS = {"LO": 0.55, "MD": 0.75, "HI": 1.0}
# AFEW-VA demo: the expressions shown and their (valence, arousal) direction at full intensity
# on -1..1 (Russell's circumplex); a frame's values are this times its expression intensity.
AFEWVA_EXPRESSIONS = {
    "happy": (0.75, 0.45),
    "surprise": (0.15, 0.85),
    "angry": (-0.65, 0.6),
    "sad": (-0.6, -0.45),
    "neutral": (0.0, 0.0),
}
FORMATS = ("ckplus", "cremad", "afewva")


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(_stable_seed("clips", *parts))


def _ramp(n: int, peak: float, hold: float) -> np.ndarray:
    """(n,) expression intensity: smooth rise from 0 to ``peak`` over the first ``1 - hold`` of
    the clip, then held at the peak."""
    t = np.linspace(0.0, 1.0, n)
    x = np.clip(t / max(1e-6, 1.0 - hold), 0.0, 1.0)
    return peak * x * x * (3 - 2 * x)


def _expression(emotion: str, e: float) -> dict[str, float]:
    return {"neutral": 1.0} if emotion == "neutral" else {emotion: e, "neutral": 1.0 - e}


def _fresh(root: Path) -> Path:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return root


def _scene_frames(
    rng: np.random.Generator,
    ident: Identity,
    emotion: str,
    intensity: np.ndarray,
    size: tuple[int, int],
) -> tuple[list[np.ndarray], list[tuple[tuple[float, float], float, float]]]:
    """BGR frames (H, W, 3) of a person in a room showing ``emotion`` at ``intensity`` per frame,
    with slow head motion and roll; and per frame the face's (centre, width, roll in degrees)."""
    W, H = size
    bg = _make_background(rng, W, H)
    width = W * rng.uniform(0.22, 0.3)
    cx0, cy0 = W * rng.uniform(0.4, 0.6), H * rng.uniform(0.38, 0.46)
    phase = rng.uniform(0, 2 * np.pi, 3)
    out, poses = [], []
    for f, e in enumerate(intensity):
        frame = bg.copy()
        cx = cx0 + 0.03 * width * np.sin(0.3 * f + phase[0])
        cy = cy0 + 0.02 * width * np.sin(0.23 * f + phase[1])
        angle = 4.0 * np.sin(0.17 * f + phase[2])
        _draw_body(frame, cx, cy + (0.5 * ident.aspect + 0.12) * width, width, ident.clothes)
        render_face(frame, (cx, cy), width, angle, _expression(emotion, float(e)), ident, rng)
        out.append(frame)
        poses.append(((cx, cy), width, angle))
    return out, poses


def make_ckplus(
    root: str | Path, *, subjects: int, clips_per_class: int, frames: int, seed: int, size: int = 64
) -> dict:
    """Write a CK+-style set under ``root`` (replaced): ``<class>/S{subject}_{seq}_{frame}.png``,
    gray ``size`` x ``size`` face crops, ``frames`` per sequence from neutral to the peak.
    Returns counts (clips, frames)."""
    root = _fresh(Path(root))
    n = 0
    for s in range(subjects):
        subject = f"S{10 + s * 5:03d}"
        ident = identity_for(f"ckplus-{subject}", seed)
        seq = 0
        for cls in CKPLUS_CLASSES:
            emotion = canonical(cls)
            for k in range(clips_per_class):
                seq += 1
                rng = _rng("ckplus", seed, subject, cls, k)
                peak = rng.uniform(0.6, 1.0)
                (root / cls).mkdir(exist_ok=True)
                level = rng.uniform(95, 150)
                for f, e in enumerate(_ramp(frames, peak, hold=0.15)):
                    img = np.full((size, size), level, np.uint8)
                    centre = (size * rng.normal(0.5, 0.01), size * rng.normal(0.56, 0.01))
                    render_face(img, centre, size * 0.78, 0.0, _expression(emotion, e), ident, rng)
                    name = f"{subject}_{seq:03d}_{f + 1:08d}.png"
                    cv2.imwrite(str(root / cls / name), img)
                n += 1
    return {"clips": n, "frames": n * frames}


def make_cremad(
    root: str | Path,
    *,
    subjects: int,
    clips_per_class: int,
    frames: int,
    seed: int,
    size: tuple[int, int] = (192, 144),
    fps: float = 15.0,
) -> dict:
    """Write CREMA-D-style clips under ``root`` (replaced): ``{actor}_{sentence}_{EMO}_{level}.mp4``
    (actors 1001..., one sentence per clip of a class, levels LO/MD/HI and XX (unspecified,
    intensity drawn)), ``frames`` frames at ``fps`` of a face in a room. Returns counts."""
    root = _fresh(Path(root))
    levels = [*CREMAD_LEVELS, "XX"]
    n = 0
    for s in range(subjects):
        actor = str(1001 + s)
        ident = identity_for(f"cremad-{actor}", seed)
        for code, emotion in CREMAD_CLASSES.items():
            for k in range(clips_per_class):
                rng = _rng("cremad", seed, actor, code, k)
                level = "XX" if code == "NEU" else levels[(s + k) % len(levels)]
                peak = CREMAD_LEVELS.get(level, rng.uniform(0.55, 1.0))
                sentence = CREMAD_SENTENCES[k % len(CREMAD_SENTENCES)]
                images, _ = _scene_frames(rng, ident, emotion, _ramp(frames, peak, 0.4), size)
                path = root / f"{actor}_{sentence}_{code}_{level}.mp4"
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
                if not writer.isOpened():
                    raise RuntimeError(f"could not open a video writer (mp4v) for {path}")
                for img in images:
                    writer.write(img)
                writer.release()
                n += 1
    return {"clips": n, "frames": n * frames}


def _landmarks68(ident: Identity, centre, width: float, angle_deg: float, e: float) -> np.ndarray:
    """Approximate 68-point (iBUG layout) landmarks (68, 2) pixels of a rendered face: jaw line,
    brows, nose, eyes and mouth placed from the identity's proportions (not the renderer's exact
    strokes; AFEW-VA's own landmarks are only used as a check of the detected face)."""
    ex, ey, mw = ident.eye_spacing / 2, ident.eye_y, ident.mouth_width / 2
    th = np.linspace(np.pi, 0, 17)
    jaw = np.c_[0.5 * np.cos(th), ey + (0.5 * ident.aspect - ey) * np.sin(th)]
    brow = [
        np.c_[np.linspace(-ex - 0.12, -ex + 0.1, 5), np.full(5, ey - ident.brow_gap)],
        np.c_[np.linspace(ex - 0.1, ex + 0.12, 5), np.full(5, ey - ident.brow_gap)],
    ]
    nose = np.r_[
        np.c_[np.zeros(4), np.linspace(ey, ident.nose_y - 0.05, 4)],
        np.c_[np.linspace(-ident.nose_w / 2, ident.nose_w / 2, 5), np.full(5, ident.nose_y)],
    ]
    a = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    eye = [
        np.c_[c + ident.eye_size / 2 * np.cos(a), ey + ident.eye_size / 5 * np.sin(a)]
        for c in (-ex, ex)
    ]
    m_open = 0.02 + 0.06 * e
    b, c = np.linspace(0, 2 * np.pi, 12, endpoint=False), np.linspace(0, 2 * np.pi, 8, False)
    mouth = np.r_[
        np.c_[mw * np.cos(b), ident.mouth_y + 0.06 * np.sin(b)],
        np.c_[0.7 * mw * np.cos(c), ident.mouth_y + m_open * np.sin(c)],
    ]
    pts = np.r_[jaw, *brow, nose, *eye, mouth] * width
    r = np.radians(-angle_deg)  # counter-clockwise on screen (y down)
    rot = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    return pts @ rot.T + np.asarray(centre, np.float64)


def make_afewva(
    root: str | Path,
    *,
    subjects: int,
    clips_per_class: int,
    frames: int,
    seed: int,
    size: tuple[int, int] = (192, 144),
) -> dict:
    """Write an AFEW-VA-style set under ``root`` (replaced): per clip a folder ``001/`` with
    ``00000.png``... (a face in a room showing one of :data:`AFEWVA_EXPRESSIONS`, intensity
    ramping to a per-clip peak) and ``001.json``: ``actor``, ``video_id``, ``frames`` with per
    frame ``valence`` and ``arousal`` (integers -10..10: 10 x the expression's circumplex
    direction x its intensity, plus a little noise) and 68 ``landmarks`` [x, y] pixels.
    Returns counts."""
    root = _fresh(Path(root))
    n = 0
    for s in range(subjects):
        actor = f"actor{s + 1:02d}"
        ident = identity_for(f"afewva-{actor}", seed)
        for emotion, (v, a) in AFEWVA_EXPRESSIONS.items():
            for k in range(clips_per_class):
                n += 1
                rng = _rng("afewva", seed, actor, emotion, k)
                clip = f"{n:03d}"
                intensity = _ramp(frames, rng.uniform(0.45, 1.0), hold=0.5)
                images, poses = _scene_frames(rng, ident, emotion, intensity, size)
                d = root / clip
                d.mkdir()
                entries = {}
                for f, (img, e, pose) in enumerate(zip(images, intensity, poses, strict=True)):
                    key = f"{f:05d}"
                    cv2.imwrite(str(d / f"{key}.png"), img)
                    lm = _landmarks68(ident, *pose, e)
                    noise = rng.normal(0, 0.4, 2)
                    entries[key] = {
                        "valence": int(np.clip(np.rint(10 * v * e + noise[0]), -10, 10)),
                        "arousal": int(np.clip(np.rint(10 * a * e + noise[1]), -10, 10)),
                        "landmarks": np.round(lm, 2).tolist(),
                    }
                doc = {"actor": actor, "video_id": clip, "frames": entries}
                (d / f"{clip}.json").write_text(json.dumps(doc))
    return {"clips": n, "frames": n * frames}


def make_demo_clips(
    fmt: str, root: str | Path, *, subjects: int, clips_per_class: int, frames: int, seed: int
) -> dict:
    """The demo set of format ``fmt`` (one of :data:`FORMATS`) under ``root``."""
    make = {"ckplus": make_ckplus, "cremad": make_cremad, "afewva": make_afewva}[fmt]
    return make(root, subjects=subjects, clips_per_class=clips_per_class, frames=frames, seed=seed)
