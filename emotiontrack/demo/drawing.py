"""Drawing helpers in face units (face widths, origin at the face centre, y down) on top of
cv2's fixed-point primitives, and the camera effects (lighting gain, blur) both the training
images and the videos go through."""

from __future__ import annotations

import math

import cv2
import numpy as np

_SHIFT = 4  # cv2 drawing sub-pixel bits
_ONE = 1 << _SHIFT


class _Pen:
    """Maps face units to patch pixels and fixed-point cv2 coordinates."""

    def __init__(self, scale: float, ox: float, oy: float):
        self.s, self.ox, self.oy = scale, ox, oy

    def px(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64)
        return np.stack([xy[..., 0] * self.s + self.ox, xy[..., 1] * self.s + self.oy], -1)

    def fix(self, xy: np.ndarray, origin: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        p = self.px(xy) - np.asarray(origin)
        return np.round(p * _ONE).astype(np.int32).reshape(-1, 1, 2)

    def pt(self, x: float, y: float) -> tuple[int, int]:
        return (round((x * self.s + self.ox) * _ONE), round((y * self.s + self.oy) * _ONE))

    def ln(self, v: float) -> int:
        return max(1, round(v * self.s * _ONE))

    def th(self, v: float) -> int:
        return max(1, round(v * self.s))


def _ellipse(img, pen: _Pen, c, axes, value, angle: float = 0.0, thickness: int = -1) -> None:
    cv2.ellipse(
        img,
        pen.pt(*c),
        (pen.ln(axes[0]), pen.ln(axes[1])),
        angle,
        0,
        360,
        value,
        thickness,
        cv2.LINE_AA,
        _SHIFT,
    )


def _polyline(img, pen: _Pen, pts, value, width: float) -> None:
    cv2.polylines(img, [pen.fix(pts)], False, value, pen.th(width), cv2.LINE_AA, _SHIFT)


def _blend_poly(img: np.ndarray, pen: _Pen, poly, color, clip=None, strength: float = 1.0) -> None:
    """Alpha-fill polygon ``poly`` (face units) with ``color`` on uint8 ``img``, optionally only
    inside polygon ``clip``; work is confined to the polygon's bounding box."""
    p = pen.px(poly)
    x0 = max(int(np.floor(p[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(p[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(p[:, 0].max())) + 2, img.shape[1])
    y1 = min(int(np.ceil(p[:, 1].max())) + 2, img.shape[0])
    if x1 <= x0 or y1 <= y0 or strength <= 0:
        return
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [pen.fix(poly, (x0, y0))], 255, cv2.LINE_AA, _SHIFT)
    mf = m.astype(np.float32) * (strength / 255.0)
    if clip is not None:
        c = np.zeros_like(m)
        cv2.fillPoly(c, [pen.fix(clip, (x0, y0))], 255, cv2.LINE_AA, _SHIFT)
        mf *= c.astype(np.float32) / 255.0
    roi = img[y0:y1, x0:x1].astype(np.float32)
    col = np.asarray(color, np.float32)
    roi += (col - roi) * mf[..., None]
    img[y0:y1, x0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)


def _curve(x: np.ndarray, xc: float, half: float, y_end: float, y_mid: float, power: float):
    """y(x) from ``y_end`` at x = xc +- half to ``y_mid`` at xc, shaped by (1 - u^2)^power."""
    u = np.clip((x - xc) / half, -1, 1)
    return y_end + (y_mid - y_end) * (1 - u * u) ** power


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _light(img: np.ndarray, gain_row: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Multiply BGR uint8 ``img`` by a per-column, per-channel float32 gain (W, 3) -> float32
    (into ``out`` when given: a video reuses one array for every frame)."""
    return np.multiply(img, gain_row[None], out=out, dtype=np.float32)


def _apply_blur(img: np.ndarray, kind: str, amount: float, angle: float) -> np.ndarray:
    if kind == "defocus":
        return cv2.GaussianBlur(img, (0, 0), amount)
    n = max(3, int(round(amount)) | 1)
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    cv2.line(
        k,
        (round(c - dx * c), round(c - dy * c)),
        (round(c + dx * c), round(c + dy * c)),
        1.0,
        1,
        cv2.LINE_AA,
    )
    return cv2.filter2D(img, -1, k / k.sum())
