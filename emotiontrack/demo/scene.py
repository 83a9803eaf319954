"""The scene around the face: a room-like background, the body below the head, and hands for
occlusions and chin rests."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from emotiontrack.demo.drawing import _ONE, _SHIFT, _ellipse, _Pen

_NECK = 0.3  # visible neck length below the chin (face widths)


def _rect(img, x0, y0, x1, y1, color, thickness: int = -1) -> None:
    cv2.rectangle(
        img,
        (int(x0), int(y0)),
        (int(x1), int(y1)),
        tuple(float(c) for c in color),
        thickness,
        cv2.LINE_AA,
    )


def _make_background(rng: np.random.Generator, W: int, H: int) -> np.ndarray:
    """A room-like BGR uint8 backdrop: shaded wall with texture, floor, furniture, window/door,
    shelves and pictures (nothing face-like)."""
    img, wall = _wall(rng, W, H)
    floor_y = _floor(img, rng, W, H, wall)
    kinds = list(
        rng.permutation(["window", "door", "shelf", "picture", "lamp", "plant", "cabinet"])
    )
    xs = np.sort(rng.uniform(0.0, 1.0, 4))
    for kind, fx in zip(kinds[:4], xs, strict=True):
        x = int(fx * (W - 120))
        _FURNITURE[kind](img, rng, x, H, floor_y, wall)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def _wall(rng: np.random.Generator, W: int, H: int) -> tuple[np.ndarray, np.ndarray]:
    """A shaded, lightly textured wall (uint8 image) and its base colour."""
    yy = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    xx = np.linspace(0, 1, W, dtype=np.float32)[None, :, None]
    wall = rng.uniform(115, 200) * (1 + rng.normal(0, 0.04, 3)).astype(np.float32)
    cxl = rng.uniform(0.2, 0.8)
    img = wall * (1.1 - 0.22 * yy) * (1 - 0.25 * (xx - cxl) ** 2)
    small = rng.normal(0, 1, (5, 7, 1)) + rng.normal(0, 0.3, (5, 7, 3))
    img = img + cv2.resize(small.astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC) * 7
    return np.clip(img, 0, 255).astype(np.uint8), wall


def _floor(img: np.ndarray, rng: np.random.Generator, W: int, H: int, wall) -> int:
    """Floor with boards or carpet texture and a skirting board; returns the floor's top row."""
    floor_y = int(H * rng.uniform(0.74, 0.9))
    floor = rng.uniform(50, 140) * np.array([0.7, 0.85, 1.0]) * rng.uniform(0.8, 1.2, 3)
    _rect(img, 0, floor_y, W, H, floor)
    for k in range(int(rng.integers(6, 14))):  # floor boards / carpet texture
        y = floor_y + (H - floor_y) * (k + 1) / 14
        cv2.line(
            img, (0, int(y)), (W, int(y + rng.uniform(-4, 4))), tuple(floor * 0.85), 1, cv2.LINE_AA
        )
    _rect(img, 0, floor_y - 8, W, floor_y, np.clip(wall * 1.15, 0, 255))
    return floor_y


# Each piece of furniture: (img, rng, x, H, floor_y, wall) -> None, drawn at column x.


def _window(img, rng, x, H, floor_y, wall) -> None:
    w, h, y = (
        int(rng.uniform(110, 190)),
        int(rng.uniform(90, 150)),
        int(rng.uniform(30, 90)),
    )
    frame = np.clip(wall * 1.3, 0, 255)
    _rect(img, x, y, x + w, y + h, frame)
    sky = np.array(rng.uniform(170, 240, 3))
    for i in range(h - 16):
        c = sky * (0.85 + 0.15 * i / h)
        cv2.line(img, (x + 8, y + 8 + i), (x + w - 8, y + 8 + i), tuple(float(v) for v in c), 1)
    _rect(img, x + w // 2 - 3, y, x + w // 2 + 3, y + h, frame)
    _rect(img, x, y + h // 2 - 3, x + w, y + h // 2 + 3, frame)


def _door(img, rng, x, H, floor_y, wall) -> None:
    w = int(rng.uniform(90, 130))
    wood = rng.uniform(40, 130) * np.array([0.6, 0.8, 1.0])
    _rect(img, x, int(H * 0.12), x + w, floor_y, wood)
    _rect(img, x, int(H * 0.12), x + w, floor_y, wood * 0.7, 3)
    _rect(img, x + 12, int(H * 0.18), x + w - 12, int(H * 0.45), wood * 0.88, 2)
    _rect(img, x + w - 20, int(H * 0.5), x + w - 10, int(H * 0.5) + 5, (60, 60, 60))


def _shelf(img, rng, x, H, floor_y, wall) -> None:
    y = int(rng.uniform(0.15, 0.45) * H)
    w = int(rng.uniform(120, 220))
    board = rng.uniform(50, 120) * np.array([0.6, 0.8, 1.0])
    bx = x
    while bx < x + w - 14:  # books
        bw, bh = int(rng.integers(6, 15)), int(rng.integers(28, 52))
        _rect(img, bx, y - bh, bx + bw, y, rng.uniform(30, 220, 3))
        bx += bw + int(rng.integers(0, 3))
    _rect(img, x - 4, y, x + w + 4, y + 8, board)


def _picture(img, rng, x, H, floor_y, wall) -> None:
    w, h, y = (
        int(rng.uniform(70, 140)),
        int(rng.uniform(50, 100)),
        int(rng.uniform(40, 140)),
    )
    _rect(img, x, y, x + w, y + h, rng.uniform(20, 90, 3))
    c1, c2 = rng.uniform(60, 230, 3), rng.uniform(60, 230, 3)
    split = y + 5 + int((h - 10) * rng.uniform(0.3, 0.7))
    _rect(img, x + 5, y + 5, x + w - 5, split, c1)
    _rect(img, x + 5, split, x + w - 5, y + h - 5, c2)


def _lamp(img, rng, x, H, floor_y, wall) -> None:
    top = int(rng.uniform(0.2, 0.4) * H)
    cv2.line(img, (x + 30, top), (x + 30, floor_y), (40, 40, 40), 3, cv2.LINE_AA)
    shade = np.array([[x + 12, top], [x + 48, top], [x + 58, top + 34], [x + 2, top + 34]])
    cv2.fillPoly(
        img,
        [shade.astype(np.int32)],
        tuple(float(v) for v in rng.uniform(150, 240, 3)),
        cv2.LINE_AA,
    )


def _plant(img, rng, x, H, floor_y, wall) -> None:
    base_y = floor_y
    pot = np.array(
        [[x + 10, base_y - 40], [x + 50, base_y - 40], [x + 44, base_y], [x + 16, base_y]]
    )
    cv2.fillPoly(
        img,
        [pot.astype(np.int32)],
        tuple(float(v) for v in rng.uniform(40, 160, 3)),
        cv2.LINE_AA,
    )
    for _ in range(14):  # leaves
        cx, cy = x + 30 + rng.normal(0, 16), base_y - 40 - abs(rng.normal(30, 22))
        green = (rng.uniform(20, 70), rng.uniform(80, 150), rng.uniform(20, 70))
        ax = (int(rng.uniform(5, 10)), int(rng.uniform(14, 24)))
        cv2.ellipse(
            img, (int(cx), int(cy)), ax, rng.uniform(0, 180), 0, 360, green, -1, cv2.LINE_AA
        )


def _cabinet(img, rng, x, H, floor_y, wall) -> None:
    w, h = int(rng.uniform(100, 170)), int(rng.uniform(70, 120))
    col = rng.uniform(50, 190, 3)
    _rect(img, x, floor_y - h, x + w, floor_y, col)
    _rect(img, x, floor_y - h, x + w, floor_y - h + 6, col * 0.8)
    cv2.line(img, (x + w // 2, floor_y - h + 10), (x + w // 2, floor_y - 4), tuple(col * 0.6), 1)


_FURNITURE = {
    "window": _window,
    "door": _door,
    "shelf": _shelf,
    "picture": _picture,
    "lamp": _lamp,
    "plant": _plant,
    "cabinet": _cabinet,
}


def _draw_body(frame: np.ndarray, cx: float, neck_y: float, s: float, color) -> None:
    """Shoulders and torso below a head of face width ``s`` (pixels) centred at ``cx``."""
    H = frame.shape[0]
    bottom = max(H + 10, neck_y + s)
    half = [0.28, 0.68, 1.05, 1.18, 1.22]
    dy = [0.0, 0.1, 0.3, 0.7, bottom / s]
    left = [
        (cx - h * s, neck_y + d * s if i < 4 else bottom)
        for i, (h, d) in enumerate(zip(half, dy, strict=True))
    ]
    right = [(2 * cx - x, y) for x, y in left][::-1]
    collar = [
        (cx + 0.2 * s, neck_y + 0.02 * s),
        (cx, neck_y + 0.2 * s),
        (cx - 0.2 * s, neck_y + 0.02 * s),
    ]
    pts = np.array(left + right + collar)
    col = np.asarray(color, np.float64)
    cv2.fillPoly(frame, [np.round(pts * _ONE).astype(np.int32)], tuple(col), cv2.LINE_AA, _SHIFT)
    shade = np.array(
        [
            (cx + 0.55 * s, neck_y + 0.12 * s),
            (cx + 1.05 * s, neck_y + 0.5 * s),
            (cx + 1.12 * s, bottom),
            (cx + 0.7 * s, bottom),
        ]
    )
    cv2.fillPoly(
        frame, [np.round(shade * _ONE).astype(np.int32)], tuple(col * 0.8), cv2.LINE_AA, _SHIFT
    )
    seam = np.array(collar)
    cv2.polylines(
        frame,
        [np.round(seam * _ONE).astype(np.int32)],
        False,
        tuple(col * 0.6),
        2,
        cv2.LINE_AA,
        _SHIFT,
    )


@functools.lru_cache(maxsize=32)
def _hand_layers(skin: tuple[float, float, float], scale: int, fist: bool):
    """A hand (fingers pointing up, palm centre as anchor) drawn at face width ``scale`` px.
    Returns (BGR uint8 patch, float32 alpha, ox, oy)."""
    size = int(scale * 1.3)
    ox, oy = size / 2, size * 0.62
    pen = _Pen(scale, ox, oy)
    m = np.zeros((size, size), np.uint8)
    _ellipse(m, pen, (0.0, 0.0), (0.2, 0.24), 255)
    fingers = []
    if fist:
        for k in range(4):
            _ellipse(m, pen, (-0.15 + 0.1 * k, -0.2), (0.055, 0.06), 255)
    else:
        for k, length in enumerate((0.3, 0.36, 0.35, 0.28)):
            x = -0.15 + 0.1 * k
            tip = (x * 1.1, -0.18 - length)
            fingers.append(((x, -0.12), tip))
            cv2.line(m, pen.pt(x, -0.12), pen.pt(*tip), 255, pen.th(0.105), cv2.LINE_AA, _SHIFT)
    cv2.line(m, pen.pt(0.15, 0.05), pen.pt(0.34, -0.12), 255, pen.th(0.09), cv2.LINE_AA, _SHIFT)
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), scale / 150)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.sqrt(((xx - ox) / (0.45 * scale)) ** 2 + ((yy - oy) / (0.55 * scale)) ** 2)
    col = np.asarray(skin, np.float32) * np.array([0.95, 0.93, 1.04], np.float32)
    img = col[None, None] * np.clip(1.08 - 0.3 * r**2, 0.6, 1.1)[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for (x0, y0), (x1, y1) in fingers[:-1]:  # shadows between fingers
        a, b = pen.pt(x0 + 0.05, y0 - 0.04), pen.pt(x1 + 0.06, y1 + 0.06)
        cv2.line(img, a, b, tuple(float(c) for c in col * 0.78), pen.th(0.012), cv2.LINE_AA, _SHIFT)
    img = cv2.GaussianBlur(img, (0, 0), scale / 180)
    img.setflags(write=False)
    alpha.setflags(write=False)
    return img, alpha, ox, oy
