"""Participant videos: one synthetic person acting out a condition's emotion timeline
(:mod:`.timeline`) in a room, with head motion, blinks, look-aways, hand occlusions, lighting
changes, blur and sensor noise, written as mp4 with its ground-truth annotation CSV."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotiontrack.demo.drawing import _apply_blur, _light, _smoothstep
from emotiontrack.demo.expressions import _PARAMS, EMOTIONS, _params_for
from emotiontrack.demo.face import _internal_scale, _place, _render_head
from emotiontrack.demo.identities import Identity, _stable_seed, identity_for
from emotiontrack.demo.scene import _NECK, _draw_body, _hand_layers, _make_background
from emotiontrack.demo.timeline import (
    _count,
    _mix_for,
    _plan_events,
    _segments,
    _timeline_weights,
    _wave,
    _write_annotation,
)

_VIEWS = ("front", "profile_l", "profile_r", "down")


def make_session_video(
    video_path: str | Path,
    annotation_path: str | Path,
    participant: str,
    condition: str,
    seed: int = 0,
    duration_s: float = 30.0,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 480),
    emotion_mix: dict[str, float] | None = None,
) -> dict:
    """Write one participant video (mp4, fourcc 'mp4v') and its ground-truth annotation CSV.

    ``participant`` and ``seed`` fix the person (same look in every condition); ``condition``
    picks the emotion mix (:data:`DEFAULT_MIXES`, a mix derived from the name for other names,
    or ``emotion_mix`` = weights over :data:`EMOTIONS`). ``duration_s`` (seconds) and ``fps``
    give ``n_frames = round(duration_s * fps)``; ``size`` = (width, height) pixels.

    Content: emotion segments 2-6 s (no immediate repeat) with 0.4-1 s blended transitions and
    intensity 0.5-1; blinks; smooth head translation, scale and roll (<= 8 deg) with micro-motion;
    lighting drift, a moving side gradient and abrupt steps; short motion/defocus blur episodes;
    sensor noise; hand occlusions and look-aways (face_visible=0, about one of each per 10-15 s)
    and chin-rest poses that leave the face visible.

    Annotation CSV columns ``start_s,end_s,emotion,face_visible``: contiguous intervals covering
    [0, n_frames / fps], a new row whenever the label or visibility changes, boundaries half-way
    between frames; ``emotion`` switches at the midpoint of a blended transition.

    Returns ``{"n_frames", "fps", "duration_s", "size", "visible_fraction", "emotion_seconds":
    {emotion: s}, "n_rows", "events": [{"kind", "type", "start_s", "end_s", "visible"}]}``.
    Same arguments -> identical annotation and identical decoded frames.
    """
    W, H = int(size[0]), int(size[1])
    if fps <= 0 or duration_s <= 0 or W < 64 or H < 64:
        raise ValueError("fps and duration_s must be positive and size at least 64x64")
    n = max(1, round(duration_s * fps))
    duration = n / fps
    rng = np.random.default_rng(_stable_seed("video", seed, participant, condition))
    ident = identity_for(participant, seed)
    t = np.arange(n) / fps
    unit = min(W / 640, H / 480)
    # The random draws below come in a fixed order: each helper takes its share of ``rng``.
    segs = _segments(rng, n, fps, _mix_for(condition, emotion_mix))
    emo, variants, labels = _timeline_weights(rng, segs, n, fps)
    head = _head_motion(rng, t, W, H, unit)
    blink = _blinks(rng, n, fps, duration)
    light = _lighting(rng, t, duration)
    blur = _blur_episodes(rng, n, fps, duration, unit)
    noise = _sensor_noise(rng, n, W, H, light["gain"])
    events = _plan_events(rng, n, fps, duration)
    tracks = _Tracks(
        emo=emo,
        variants=variants,
        blink=blink,
        **head,
        **light,
        **blur,
        **noise,
        **_event_tracks(events, n, fps, W, head["width"]),
    )
    bg = _make_background(rng, W, H)
    _write_video(Path(video_path), tracks, bg, ident, fps)
    n_rows = _write_annotation(Path(annotation_path), labels, tracks.visible, fps)
    return _video_stats(tracks, labels, events, fps, (W, H), n_rows)


@dataclass
class _Tracks:
    """Everything that changes from frame to frame of one video, one entry per frame."""

    emo: np.ndarray  # (n, 7) emotion weights
    variants: np.ndarray  # (n, 7) variant amounts
    jitter: np.ndarray  # (n, len(_PARAMS)) small action-parameter noise
    width: np.ndarray  # face width (px)
    cx: np.ndarray  # face centre (px)
    cy: np.ndarray
    angle: np.ndarray  # head roll (deg)
    gaze: np.ndarray  # (n, 2)
    blink: np.ndarray  # 0 open .. 1 closed
    gain: np.ndarray  # overall lighting gain
    grad_s: np.ndarray  # side-gradient strength
    grad_c: np.ndarray  # side-gradient centre (fraction of the width)
    tint: np.ndarray  # (n, 3) colour drift
    blur_kind: np.ndarray  # "", "motion" or "defocus"
    blur_amt: np.ndarray
    blur_ang: np.ndarray
    sigma: np.ndarray  # sensor-noise level
    bank: list[np.ndarray]  # noise fields the frames cut from
    noise_pick: np.ndarray  # which field
    noise_off: np.ndarray  # (n, 2) where in it
    view: np.ndarray  # index into _VIEWS
    shift: np.ndarray  # sideways offset of a participant leaving the picture (px)
    occ: list[dict | None]  # the occlusion event a frame is in
    visible: np.ndarray  # face_visible 0/1


def _head_motion(rng: np.random.Generator, t: np.ndarray, W: int, H: int, unit: float) -> dict:
    """Expression jitter, face width, smooth head translation and roll with micro-motion, gaze."""
    n = len(t)
    jitter = np.stack([_wave(rng, t, 0.06, 0.05, 0.4, 2) for _ in _PARAMS], 1)
    width = rng.uniform(100, 124) * unit + _wave(rng, t, 14 * unit, 0.01, 0.05, 2)
    width = np.clip(width, 90 * unit, 140 * unit)
    cx = W / 2 + rng.uniform(-0.05, 0.05) * W + _wave(rng, t, 0.07 * W, 0.02, 0.15)
    cy = H * rng.uniform(0.43, 0.47) + _wave(rng, t, 0.045 * H, 0.02, 0.15)
    cx = cx + _wave(rng, t, 1.2 * unit, 1.0, 4.0) + rng.normal(0, 0.25 * unit, n)
    cy = cy + _wave(rng, t, 1.0 * unit, 1.0, 4.0) + rng.normal(0, 0.25 * unit, n)
    angle = _wave(rng, t, 6.0, 0.03, 0.25) + _wave(rng, t, 0.6, 1.0, 3.0) + rng.normal(0, 0.1, n)
    angle = np.clip(angle, -8, 8)
    gaze = np.stack([_wave(rng, t, 0.6, 0.05, 0.5), _wave(rng, t, 0.4, 0.05, 0.5)], 1)
    return {"jitter": jitter, "width": width, "cx": cx, "cy": cy, "angle": angle, "gaze": gaze}


def _blinks(rng: np.random.Generator, n: int, fps: float, duration: float) -> np.ndarray:
    """Lid closure per frame (0..1): a blink of 0.15 s every 2.5-6 s."""
    blink = np.zeros(n)
    tb = rng.uniform(0.5, 3.0)
    blink_len = max(1, round(0.15 * fps))
    profile = np.sin(np.linspace(0, np.pi, blink_len + 2)[1:-1])
    while tb < duration:
        f = round(tb * fps)
        blink[f : f + blink_len] = profile[: max(0, min(blink_len, n - f))]
        tb += rng.uniform(2.5, 6.0)
    return blink


def _lighting(rng: np.random.Generator, t: np.ndarray, duration: float) -> dict:
    """Gain per frame (drift and abrupt steps), a moving side gradient and colour drift."""
    gain = rng.uniform(0.88, 1.05) * (1 + _wave(rng, t, 0.14, 0.01, 0.06))
    for _ in range(max(1, round(duration / 15)) if duration >= 5 else 0):
        ts = rng.uniform(1.0, duration - 1.0)
        step = rng.uniform(0.75, 0.87) if rng.random() < 0.5 else rng.uniform(1.13, 1.25)
        gain = np.where(t >= ts, gain * step, gain)
    gain = np.clip(gain, 0.65, 1.25)
    grad_s = rng.uniform(-0.1, 0.1) + _wave(rng, t, 0.22, 0.02, 0.08)
    grad_c = 0.5 + _wave(rng, t, 0.3, 0.02, 0.06)
    tint = 1 + np.stack([_wave(rng, t, 0.04, 0.01, 0.04) for _ in range(3)], 1)
    return {"gain": gain, "grad_s": grad_s, "grad_c": grad_c, "tint": tint}


def _blur_episodes(
    rng: np.random.Generator, n: int, fps: float, duration: float, unit: float
) -> dict:
    """Frequent, short motion or defocus blur episodes: the per-frame classifier stumbles on them
    while the frames around them are sharp, so temporal context can recover the emotion."""
    blur_kind = np.full(n, "", dtype=object)
    blur_amt = np.zeros(n)
    blur_ang = np.zeros(n)
    for _ in range(_count(rng, duration, 2.5, 4.0)):
        f0 = int(rng.integers(0, n))
        f1 = min(n, f0 + max(1, round(rng.uniform(0.3, 1.0) * fps)))
        if rng.random() < 0.5:
            blur_kind[f0:f1], blur_amt[f0:f1] = "motion", rng.uniform(5, 13) * unit
        else:
            blur_kind[f0:f1], blur_amt[f0:f1] = "defocus", rng.uniform(1.0, 2.2) * unit
        blur_ang[f0:f1] = rng.uniform(0, 180)
    return {"blur_kind": blur_kind, "blur_amt": blur_amt, "blur_ang": blur_ang}


def _sensor_noise(rng: np.random.Generator, n: int, W: int, H: int, gain: np.ndarray) -> dict:
    """Noise stronger in darker frames, cut per frame at a random offset from two fields."""
    sigma = rng.uniform(2.0, 4.0) / np.sqrt(gain)
    bank = [rng.standard_normal((H + 16, W + 16, 3), dtype=np.float32) for _ in range(2)]
    noise_pick = rng.integers(0, 2, n)
    noise_off = rng.integers(0, 17, (n, 2))
    return {"sigma": sigma, "bank": bank, "noise_pick": noise_pick, "noise_off": noise_off}


def _event_tracks(events: list[dict], n: int, fps: float, W: int, width: np.ndarray) -> dict:
    """Per-frame view, sideways shift (leaving the picture), occlusion and visibility from the
    planned events."""
    view = np.zeros(n, np.int64)
    shift = np.zeros(n)
    occ: list[dict | None] = [None] * n
    visible = np.ones(n, np.int64)
    for ev in events:
        f0, f1 = ev["f0"], ev["f1"]
        visible[f0:f1] = ev["visible"]
        if ev["kind"] != "lookaway":
            for f in range(f0, f1):
                occ[f] = ev
            continue
        if ev["type"] == "down":
            view[f0:f1] = _VIEWS.index("down")
        else:
            view[f0:f1] = _VIEWS.index("profile_l" if ev["side"] < 0 else "profile_r")
        if ev["type"] == "leave":
            d = f1 - f0
            r = max(1, min(round(0.3 * fps), d // 3))
            ramp = np.ones(d)
            ramp[:r] = _smoothstep((np.arange(r) + 1) / r)
            ramp[d - r :] = np.minimum(ramp[d - r :], _smoothstep((d - np.arange(d - r, d)) / r))
            shift[f0:f1] = ev["side"] * (W * 0.5 + 1.6 * width[f0:f1]) * ramp
    return {"view": view, "shift": shift, "occ": occ, "visible": visible}


def _write_video(
    video_path: Path, tr: _Tracks, bg: np.ndarray, ident: Identity, fps: float
) -> None:
    """Render every frame over the background ``bg`` and write them as mp4 (fourcc 'mp4v')."""
    H, W = bg.shape[:2]
    scale = _internal_scale(float(np.median(tr.width)))
    xs = (np.arange(W, dtype=np.float64) + 0.5) / W
    video_path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (W, H))
    if not writer.isOpened():
        raise RuntimeError(f"could not open a video writer (mp4v) for {video_path}")
    # the frame and the camera's arrays, reused frame after frame: fresh multi-megabyte arrays
    # for every frame cost more than the arithmetic on them (same pixels either way)
    frame = np.empty_like(bg)
    buf = (np.empty(bg.shape, np.float32), np.empty(bg.shape, np.float32), np.empty_like(bg))
    try:
        for f in range(len(tr.width)):
            np.copyto(frame, bg)
            _draw_person(frame, tr, f, ident, scale, fps)
            writer.write(_camera(frame, tr, f, xs, buf))
    finally:
        writer.release()


def _draw_person(
    frame: np.ndarray, tr: _Tracks, f: int, ident: Identity, scale: int, fps: float
) -> None:
    """Head, body and any occluding hands of frame ``f``, in place (nothing once out of the
    picture)."""
    W = frame.shape[1]
    hx, hy, s = tr.cx[f] + tr.shift[f], tr.cy[f], tr.width[f]
    if abs(tr.shift[f]) >= W * 0.5 + 1.5 * s:
        return
    p = _params_for(tr.emo[f], tr.variants[f]) + np.asarray(ident.rest) + tr.jitter[f]
    patch, alpha, ox, oy = _render_head(
        ident, p, scale, tuple(tr.gaze[f]), tr.blink[f], _VIEWS[tr.view[f]]
    )
    _place(frame, patch, alpha, (ox, oy), (hx, hy), s / scale, tr.angle[f])
    bx = W / 2 + 0.6 * (hx - W / 2)
    _draw_body(frame, bx, hy + (0.5 * ident.aspect + _NECK) * s, s, ident.clothes)
    ev = tr.occ[f]
    if ev is None:
        return
    wob = math.sin(2 * math.pi * 0.7 * (f - ev["f0"]) / fps) * 0.015
    M = cv2.getRotationMatrix2D((0.0, 0.0), tr.angle[f], 1.0)
    for dx, dy, rot, hs, fist in _hand_poses(ev, ident):
        ax = hx + (M[0, 0] * (dx + wob) + M[0, 1] * dy) * s
        ay = hy + (M[1, 0] * (dx + wob) + M[1, 1] * dy) * s
        hp, ha, hox, hoy = _hand_layers(ident.skin, scale, fist)
        zoom = hs * s / scale
        _place(frame, hp, ha, (hox, hoy), (ax, ay), zoom, tr.angle[f] + rot)


def _camera(
    frame: np.ndarray,
    tr: _Tracks,
    f: int,
    xs: np.ndarray,
    buf: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Frame ``f`` as the camera records it: blur, lighting (gain, side gradient, tint) and
    sensor noise; ``xs``: column centres as fractions of the width; ``buf``: two float32 arrays
    and a uint8 one of the frame's shape, overwritten. Returns BGR uint8 (``buf``'s last)."""
    H, W = frame.shape[:2]
    if tr.blur_kind[f]:
        frame = _apply_blur(frame, tr.blur_kind[f], tr.blur_amt[f], tr.blur_ang[f])
    grad = 1 + tr.grad_s[f] * np.tanh((xs - tr.grad_c[f]) / 0.25)
    row = (tr.gain[f] * grad)[:, None] * tr.tint[f]
    lit, noise, out = buf
    _light(frame, row.astype(np.float32), out=lit)
    oy_, ox_ = tr.noise_off[f]
    bank = tr.bank[tr.noise_pick[f]][oy_ : oy_ + H, ox_ : ox_ + W]
    np.multiply(bank, np.float32(tr.sigma[f]), out=noise)
    lit += noise
    np.clip(lit, 0, 255, out=lit)
    np.copyto(out, lit, casting="unsafe")  # truncation, as astype(np.uint8)
    return out


def _hand_poses(ev: dict, ident: Identity) -> list[tuple[float, float, float, float, bool]]:
    """Hands for an occlusion event: (x, y) anchor offset (face units), extra rotation (deg),
    size (face widths) and whether the hand is a fist."""
    sx, j = ev["side"], ev["jitter"]
    b = 0.5 * ident.aspect
    kind = ev["type"]
    if kind == "eyes":  # one hand across the eyes
        return [(sx * 0.24, ident.eye_y - 0.03 + 0.015 * j, sx * (90 + 8 * j), 1.3, False)]
    if kind == "face":  # one hand flat over the middle of the face
        return [(sx * 0.03, ident.nose_y + 0.02, sx * (10 + 6 * j), 1.35, False)]
    if kind == "hands":  # face buried in both hands
        y = ident.nose_y + 0.04
        return [(-0.16, y, -12 + 4 * j, 1.15, False), (0.16, y, 12 + 4 * j, 1.15, False)]
    if kind == "cheek":  # head resting on a hand at the side of the jaw
        return [(sx * 0.5, b - 0.02, sx * (22 + 8 * j), 1.0, False)]
    return [(sx * 0.05, b + 0.16, sx * (8 + 6 * j), 0.85, True)]  # chin on a fist


def _video_stats(
    tr: _Tracks, labels: np.ndarray, events: list[dict], fps: float, size, n_rows: int
) -> dict:
    """make_session_video's summary (see there)."""
    n = len(labels)
    secs = np.bincount(labels, minlength=len(EMOTIONS)) / fps
    return {
        "n_frames": n,
        "fps": float(fps),
        "duration_s": n / fps,
        "size": size,
        "visible_fraction": float(tr.visible.mean()),
        "emotion_seconds": {e: float(s) for e, s in zip(EMOTIONS, secs, strict=True)},
        "n_rows": n_rows,
        "events": [
            {
                "kind": ev["kind"],
                "type": ev["type"],
                "start_s": (ev["f0"] - 0.5) / fps,
                "end_s": (ev["f1"] - 0.5) / fps,
                "visible": ev["visible"],
            }
            for ev in events
        ],
    }
