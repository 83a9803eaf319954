"""The face renderer: a head's static layers (:mod:`.head`) shaded and given eyes, brows, nose
and mouth from the action parameters, then warped onto a canvas (:func:`render_face`).

Faces are drawn the way OpenCV's frontal-face Haar cascade expects a face to look (radial skin
shading, dark blurred eye sockets, brows, a lighter nose bridge and cheeks), not as flat cartoons,
which the cascade does not find."""

from __future__ import annotations

import cv2
import numpy as np

from emotiontrack.demo.drawing import _SHIFT, _blend_poly, _curve, _ellipse, _Pen, _polyline
from emotiontrack.demo.expressions import _PARAMS, _check_expression, _params_for
from emotiontrack.demo.head import _base_layers
from emotiontrack.demo.identities import Identity

_R = 128  # internal render width of a face (pixels); faces are warped to their final size


def _render_head(
    ident: Identity,
    p: np.ndarray,
    scale: int = _R,
    gaze: tuple[float, float] = (0.0, 0.0),
    blink: float = 0.0,
    view: str = "front",
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Render a head in an axis-aligned patch. ``p``: action parameters (see _PARAMS).
    Returns (BGR uint8 patch, float32 alpha 0..1, ox, oy) where (ox, oy) is the face centre."""
    g = {name: float(p[i]) for i, name in enumerate(_PARAMS)}
    jaw = float(np.clip(g["jaw"], 0, 1))
    base, alpha, ox, oy = _base_layers(ident, scale, round(jaw * 4), view)
    if view != "front":
        out = cv2.GaussianBlur(np.clip(base + 0.5, 0, 255).astype(np.uint8), (0, 0), scale / 160)
        return out, alpha, ox, oy
    pen = _Pen(scale, ox, oy)
    soft = _soft_shading(pen, ident, g, alpha.shape)
    fine = _fine_shading(pen, ident, g, alpha.shape)
    img = base * (soft * fine)[..., None]
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    _draw_eyes(img, pen, ident, g, gaze, blink)
    _draw_brows(img, pen, ident, g)
    _draw_nose(img, pen, ident, g)
    _draw_mouth(img, pen, ident, g)
    out = cv2.GaussianBlur(img, (0, 0), scale / 170)
    return out, alpha, ox, oy


def _soft_shading(pen: _Pen, ident: Identity, g: dict[str, float], shape) -> np.ndarray:
    """Soft shading (sockets, bridge, cheeks, beard area): a multiplicative float32 map of the
    patch's ``shape``, heavily blurred."""
    es, ey = ident.eye_spacing / 2, ident.eye_y
    ny, my = ident.nose_y, ident.mouth_y
    lift = g["brow_lift"]
    cheek = float(np.clip(g["cheek"], 0, 1))
    soft = np.ones(shape, np.float32)
    brow_y = ey - ident.brow_gap
    for sx in (-1, 1):
        _ellipse(soft, pen, (sx * (es + 0.005), ey - 0.012 + 0.01 * lift), (0.125, 0.075), 0.58)
        _ellipse(soft, pen, (sx * (es + 0.01), ey + 0.055), (0.09, 0.03), 0.82)
        cy = ny - 0.02 - 0.04 * cheek
        _ellipse(soft, pen, (sx * 0.2, cy), (0.1, 0.07), 1.12 + 0.06 * cheek)
        _ellipse(soft, pen, (sx * 0.055, ny - 0.07), (0.022, 0.085), 0.86)  # nose sides
    _ellipse(soft, pen, (0.0, ey + 0.02), (0.032, 0.13), 1.18)  # bridge highlight
    _ellipse(soft, pen, (0.0, ny + 0.035), (0.075, 0.022), 0.72)  # under the nose
    _ellipse(soft, pen, (0.0, brow_y - 0.13), (0.2, 0.07), 1.08)  # forehead highlight
    _ellipse(soft, pen, (0.0, my + 0.1), (0.09, 0.03), 0.85)  # under the lower lip
    if ident.stubble > 0:
        beard = np.array(
            [[-0.46, ny], [-0.3, ny + 0.08], [0.3, ny + 0.08], [0.46, ny], [0.3, 0.7], [-0.3, 0.7]]
        )
        cv2.fillPoly(soft, [pen.fix(beard)], 1.0 - ident.stubble * 0.45, cv2.LINE_8, _SHIFT)
    return cv2.GaussianBlur(soft, (0, 0), 0.03 * pen.s)


def _fine_shading(pen: _Pen, ident: Identity, g: dict[str, float], shape) -> np.ndarray:
    """Fine shading (forehead and frown lines, nasolabial folds, crow's feet, lower-lid bulges,
    nose wrinkles, chin): a multiplicative float32 map of the patch's ``shape``, lightly blurred."""
    es, ey = ident.eye_spacing / 2, ident.eye_y
    ny, my = ident.nose_y, ident.mouth_y
    lift = g["brow_lift"]
    cheek = float(np.clip(g["cheek"], 0, 1))
    smile = float(np.clip(g["smile"], -1.2, 1.2))
    wrinkle = float(np.clip(g["nose_wrinkle"], 0, 1))
    brow_y = ey - ident.brow_gap
    fine = np.ones(shape, np.float32)
    fw = 0.011
    fh = float(np.clip(g["forehead"], 0, 1))
    if fh > 0.05:
        for k in range(3):
            yy = brow_y - 0.075 - 0.045 * k - 0.03 * lift
            xs = np.linspace(-0.2 + 0.03 * k, 0.2 - 0.03 * k, 9)
            _polyline(fine, pen, np.c_[xs, yy + 0.02 * (xs / 0.2) ** 2], 1 - 0.22 * fh, fw)
    gl = float(np.clip(g["glabella"], 0, 1))
    if gl > 0.05:
        for sx in (-1, 1):
            pts = np.array([[sx * 0.03, brow_y + 0.01], [sx * 0.02, brow_y - 0.06]])
            _polyline(fine, pen, pts, 1 - 0.3 * gl, fw)
    nl = float(np.clip(0.25 + 0.75 * max(smile, 0) + 0.6 * wrinkle + 0.3 * g["lip_raise"], 0, 1.2))
    for sx in (-1, 1):
        t = np.linspace(0, 1, 8)
        mx = ident.mouth_width / 2 + 0.03
        x = sx * (ident.nose_w + 0.05 + (mx - ident.nose_w - 0.03) * t)
        y = ny - 0.02 + (my - ny + 0.05) * t - 0.03 * np.sin(t * np.pi) * max(smile, 0)
        _polyline(fine, pen, np.c_[x, y], 1 - 0.25 * nl, fw * 1.2)
        if cheek > 0.3:  # crow's feet
            for a in (-0.5, 0.0, 0.5):
                x0 = sx * (es + ident.eye_size / 2 + 0.015)
                pts = np.array([[x0, ey], [x0 + sx * 0.05, ey + a * 0.04]])
                _polyline(fine, pen, pts, 1 - 0.25 * cheek, fw * 0.8)
        if g["lid_lower"] > 0.2:  # lower-lid bulge
            xs = np.linspace(-ident.eye_size / 2, ident.eye_size / 2, 7)
            yy = ey + 0.045 + 0.01 * (1 - (xs / (ident.eye_size / 2)) ** 2)
            _polyline(fine, pen, np.c_[sx * es + xs, yy], 1 - 0.2 * g["lid_lower"], fw)
    if wrinkle > 0.1:
        for k in range(3):
            yy = ey + 0.005 + 0.022 * k
            _polyline(
                fine, pen, np.array([[-0.045, yy], [0.045, yy - 0.005]]), 1 - 0.3 * wrinkle, fw
            )
    chin = float(np.clip(g["chin_raise"], 0, 1))
    if chin > 0.1:
        xs = np.linspace(-0.07, 0.07, 7)
        _polyline(
            fine, pen, np.c_[xs, my + 0.11 - 0.02 * (1 - (xs / 0.07) ** 2)], 1 - 0.3 * chin, fw
        )
    return cv2.GaussianBlur(fine, (0, 0), 0.008 * pen.s)


def _draw_eyes(
    img: np.ndarray,
    pen: _Pen,
    ident: Identity,
    g: dict[str, float],
    gaze: tuple[float, float],
    blink: float,
) -> None:
    """Eye whites, irises and pupils (looking along ``gaze``), lids closing with ``blink`` 0..1,
    lashes, lower-lid lines and creases."""
    skin = np.asarray(ident.skin, np.float64)
    es, ey = ident.eye_spacing / 2, ident.eye_y
    inner = g["brow_inner"]
    cheek = float(np.clip(g["cheek"], 0, 1))
    blink = float(np.clip(blink, 0, 1))
    iris = tuple(float(c) for c in ident.iris)
    for sx in (-1, 1):
        ex = sx * es
        ew = ident.eye_size / 2
        hu = 0.042 * (1 + 0.9 * g["lid_upper"]) * (1 - 0.3 * cheek) * (1 - blink)
        hl = 0.03 * (1 - 0.85 * np.clip(g["lid_lower"], 0, 1)) * (1 - blink)
        hu, hl = max(hu, 0.002), max(hl, 0.002)
        u = np.linspace(-1, 1, 17)
        x = ex + ew * u
        slant = 0.012 * inner * (u * sx) * (1 - u * u)
        yu = ey - hu * (1 - u * u) ** 0.7 + slant - 0.004 * u * sx
        yl = ey + hl * (1 - u * u) ** 0.8 - 0.004 * u * sx
        eye = np.r_[np.c_[x, yu], np.c_[x[::-1], yl[::-1]]]
        if hu + hl > 0.012:
            _blend_poly(img, pen, eye, (196, 202, 208))
            ic = (ex + 0.35 * ew * gaze[0], ey - 0.004 + 0.01 * gaze[1])
            ri = 0.4 * ew
            circ = np.c_[
                ic[0] + ri * np.cos(np.linspace(0, 2 * np.pi, 24)),
                ic[1] + ri * np.sin(np.linspace(0, 2 * np.pi, 24)),
            ]
            _blend_poly(img, pen, circ, iris, clip=eye)
            circ = np.c_[
                ic[0] + 0.45 * ri * np.cos(np.linspace(0, 2 * np.pi, 16)),
                ic[1] + 0.45 * ri * np.sin(np.linspace(0, 2 * np.pi, 16)),
            ]
            _blend_poly(img, pen, circ, (15, 15, 18), clip=eye)
        lash = tuple(float(c) for c in np.minimum(np.asarray(ident.brows) * 0.8, 40))
        _polyline(img, pen, np.c_[x, yu], lash, 0.014 + 0.006 * blink)
        _polyline(img, pen, np.c_[x, yl], tuple(skin * 0.6), 0.007)
        crease = np.c_[x * 0.95 + ex * 0.05, yu - 0.03 - 0.01 * g["lid_upper"]]
        _polyline(img, pen, crease[2:-2], tuple(skin * 0.72), 0.008)


def _draw_brows(img: np.ndarray, pen: _Pen, ident: Identity, g: dict[str, float]) -> None:
    """Brows as tapered quadratic strokes raised, lowered, slanted and squeezed by ``g``."""
    es, ey = ident.eye_spacing / 2, ident.eye_y
    lift, inner, outer = g["brow_lift"], g["brow_inner"], g["brow_outer"]
    squeeze = float(np.clip(g["brow_squeeze"], 0, 1))
    brow_y = ey - ident.brow_gap
    bcol = tuple(float(c) for c in ident.brows)
    for sx in (-1, 1):
        xi = sx * (0.065 - 0.022 * squeeze) * (ident.eye_spacing / 0.4)
        xo = sx * (es + ident.eye_size / 2 + 0.03)
        xm = 0.45 * xi + 0.55 * xo
        yb = brow_y - 0.055 * lift
        yi = yb - 0.05 * inner + 0.01
        ym = yb - 0.018 - 0.015 * inner - 0.01 * outer
        yo = yb + 0.012 - 0.035 * outer
        t = np.linspace(0, 1, 9)[:, None]
        c = (
            (1 - t) ** 2 * np.array([xi, yi])
            + 2 * t * (1 - t) * np.array([xm, 2 * ym - (yi + yo) / 2])
            + t**2 * np.array([xo, yo])
        )
        d = np.gradient(c, axis=0)
        nrm = np.c_[-d[:, 1], d[:, 0]] / np.linalg.norm(d, axis=1, keepdims=True)
        th = ident.brow_thick * (1.1 - 0.55 * t)
        poly = np.r_[c + nrm * th / 2, (c - nrm * th / 2)[::-1]]
        _blend_poly(img, pen, poly, bcol, strength=0.92)


def _draw_nose(img: np.ndarray, pen: _Pen, ident: Identity, g: dict[str, float]) -> None:
    """Nostrils and the line under the nose, widened and raised by a nose wrinkle."""
    skin = np.asarray(ident.skin, np.float64)
    ny = ident.nose_y
    wrinkle = float(np.clip(g["nose_wrinkle"], 0, 1))
    nw = ident.nose_w * (1 + 0.2 * wrinkle)
    nyy = ny - 0.015 * wrinkle
    for sx in (-1, 1):
        _ellipse(img, pen, (sx * nw, nyy), (0.021, 0.011), tuple(skin * 0.42), angle=sx * 20)
    _polyline(
        img,
        pen,
        np.array(
            [[-nw * 1.5, nyy - 0.02], [-nw, nyy + 0.012], [nw, nyy + 0.012], [nw * 1.5, nyy - 0.02]]
        ),
        tuple(skin * 0.7),
        0.008,
    )


def _draw_mouth(img: np.ndarray, pen: _Pen, ident: Identity, g: dict[str, float]) -> None:
    """Lips, mouth opening (dark cavity, upper and lower teeth) or the closed-lip line, and the
    mouth corners, shaped by smile, opening, jaw drop, pressing, raising and sneer."""
    smile = float(np.clip(g["smile"], -1.2, 1.2))
    opn = float(np.clip(g["mouth_open"], 0, 1.2))
    jaw = float(np.clip(g["jaw"], 0, 1))
    press = float(np.clip(g["lip_press"], 0, 1))
    lraise = float(np.clip(g["lip_raise"], 0, 1))
    depress = float(np.clip(g["lip_depress"], 0, 1))
    chin = float(np.clip(g["chin_raise"], 0, 1))
    sneer = float(np.clip(g["sneer"], 0, 1))
    teeth = float(np.clip(g["teeth"], 0, 1))
    my = ident.mouth_y
    mw = ident.mouth_width / 2 * (1 + 0.25 * g["mouth_w"] + 0.1 * max(smile, 0))
    mw = float(np.clip(mw, 0.09, 0.3))
    cy = my - (0.05 * smile if smile > 0 else 0.045 * smile)
    open_h = 0.10 * opn + 0.07 * jaw
    ut = 0.032 * ident.lip_thick * (1 - 0.65 * press)
    lt = 0.046 * ident.lip_thick * (1 - 0.6 * press)
    yiu = my - 0.25 * open_h - 0.028 * lraise - 0.01 * chin
    yil = my + 0.75 * open_h + 0.012 * depress - 0.01 * chin
    power = 1.0 - 0.45 * min(1.0, open_h / 0.1)
    x = np.linspace(-mw, mw, 25)
    side = np.exp(-((((x / mw) + 0.45) / 0.3) ** 2)) * sneer * lraise
    iu = _curve(x, 0, mw, cy, yiu, power) - 0.025 * side
    il = _curve(x, 0, mw, cy, yil, power)
    bow = 0.007 * np.exp(-(((x / mw) / 0.18) ** 2))
    ou = _curve(x, 0, mw, cy, yiu - ut, 0.8) + bow - 0.03 * side
    ol = _curve(x, 0, mw, cy, yil + lt, 0.85)
    lips = tuple(float(c) for c in ident.lips)
    skin = np.asarray(ident.skin, np.float64)
    if open_h > 0.012:
        cavity = np.r_[np.c_[x, iu], np.c_[x[::-1], il[::-1]]]
        _blend_poly(img, pen, cavity, tuple(skin * 0.12 + 12))
        if teeth > 0.05:
            th = min(0.04, 0.6 * (yil - yiu))
            band = np.r_[np.c_[x, iu - 0.01], np.c_[x[::-1], iu[::-1] + th]]
            _blend_poly(img, pen, band, (205, 212, 218), clip=cavity, strength=teeth)
            if teeth > 0.5:
                band = np.r_[np.c_[x, il - 0.35 * th], np.c_[x[::-1], il[::-1] + 0.01]]
                _blend_poly(img, pen, band, (185, 192, 198), clip=cavity, strength=teeth - 0.4)
    upper = np.r_[np.c_[x, ou], np.c_[x[::-1], iu[::-1]]]
    lower = np.r_[np.c_[x, il], np.c_[x[::-1], ol[::-1]]]
    _blend_poly(img, pen, upper, tuple(np.asarray(lips) * 0.88), strength=0.95)
    _blend_poly(img, pen, lower, lips, strength=0.95)
    line = tuple(skin * 0.3)
    if open_h <= 0.012:
        _polyline(img, pen, np.c_[x, (iu + il) / 2], line, 0.012)
    for sx in (-1, 1):
        _ellipse(img, pen, (sx * (mw + 0.004), cy), (0.008, 0.006), tuple(skin * 0.55))


def _place(
    canvas: np.ndarray,
    patch: np.ndarray,
    alpha: np.ndarray,
    anchor: tuple[float, float],
    center: tuple[float, float],
    zoom: float,
    angle_deg: float,
) -> None:
    """Warp ``patch`` (its point ``anchor`` to canvas point ``center``, scaled by ``zoom``, rotated
    by ``angle_deg`` counter-clockwise) and alpha-blend it onto ``canvas`` in place."""
    M = cv2.getRotationMatrix2D((float(anchor[0]), float(anchor[1])), angle_deg, zoom)
    M[0, 2] += center[0] - anchor[0]
    M[1, 2] += center[1] - anchor[1]
    ph, pw = alpha.shape
    corners = np.array([[0, 0, 1], [pw, 0, 1], [0, ph, 1], [pw, ph, 1]], np.float64) @ M.T
    H, W = canvas.shape[:2]
    x0 = max(int(np.floor(corners[:, 0].min())), 0)
    y0 = max(int(np.floor(corners[:, 1].min())), 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + 1, W)
    y1 = min(int(np.ceil(corners[:, 1].max())) + 1, H)
    if x1 <= x0 or y1 <= y0:
        return
    M[0, 2] -= x0
    M[1, 2] -= y0
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(patch, M, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    a = cv2.warpAffine(alpha, M, size, flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    roi = canvas[y0:y1, x0:x1]
    if roi.ndim == 2:
        warped = cv2.cvtColor(warped, cv2.COLOR_BGR2GRAY)[..., None]
        roi = roi[..., None]
    out = roi.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a
    canvas[y0:y1, x0:x1] = (
        np.clip(out + 0.5, 0, 255).astype(np.uint8).reshape(canvas[y0:y1, x0:x1].shape)
    )


def _internal_scale(width: float) -> int:
    """Render width for a face shown ``width`` px wide: native below ~100 px (no aliasing when
    warping down), the cached default around video sizes, native again for big faces."""
    if width < 0.8 * _R:
        return max(24, int(round(width)))
    return _R if width <= 1.3 * _R else int(round(width))


def render_face(
    canvas: np.ndarray,
    center: tuple[float, float],
    width: float,
    angle_deg: float,
    expression: dict[str, float],
    identity: Identity,
    rng: np.random.Generator,
) -> None:
    """Draw a face (with hair, ears and neck) in place on a BGR uint8 ``canvas`` (a 2-D gray
    canvas also works). Parts outside the canvas are clipped.

    ``center``: (x, y) pixel position of the face centre (about the nose bridge below the eyes);
    ``width``: face-oval width in pixels (the head with hair is ~1.1x, the whole face ~1.3x as
    tall); ``angle_deg``: in-plane roll, counter-clockwise positive; ``expression``: weights over
    :data:`EMOTIONS` (normalised here; a blend during transitions, intensity < 1 by mixing with
    neutral; empty -> neutral); ``identity``: the person; ``rng``: draws the small per-call
    variation (gaze direction)."""
    w = _check_expression(expression)
    p = _params_for(w) + np.asarray(identity.rest)
    gaze = tuple(float(v) for v in np.clip(rng.normal(0, 0.35, 2), -1, 1))
    scale = _internal_scale(width)
    patch, alpha, ox, oy = _render_head(identity, p, scale, gaze)
    _place(canvas, patch, alpha, (ox, oy), center, width / scale, angle_deg)
