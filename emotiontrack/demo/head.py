"""The static parts of a head (hair, ears, neck, shaded skin) for each view, drawn once per person,
size and jaw drop and cached: the face features are drawn on top of them (:mod:`.face`)."""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from emotiontrack.demo.drawing import _SHIFT, _Pen
from emotiontrack.demo.identities import Identity


def _geometry(ident: Identity) -> tuple[float, float, float, float]:
    """Patch extent in face units: x half-width, y top, y bottom, face half-height."""
    b = 0.5 * ident.aspect
    return 0.9, -(b + 0.25), b + 0.62, b


class _Layers:
    """A head patch being built: pixel-centre grids ``X`` (1, pw) and ``Y`` (ph, 1) in face units,
    float32 BGR ``img`` and ``alpha``, the person's hair-strand texture; :meth:`put` lays soft
    masks of colour over what is there."""

    def __init__(self, ident: Identity, scale: int):
        xh, ytop, ybot, b = _geometry(ident)
        pw, ph = int(math.ceil(2 * xh * scale)), int(math.ceil((ybot - ytop) * scale))
        self.scale, self.ybot, self.b = scale, ybot, b
        self.ox, self.oy = xh * scale, -ytop * scale
        self.X = ((np.arange(pw, dtype=np.float32) + 0.5 - self.ox) / scale)[None, :]
        self.Y = ((np.arange(ph, dtype=np.float32) + 0.5 - self.oy) / scale)[:, None]
        self.img = np.zeros((ph, pw, 3), np.float32)
        self.alpha = np.zeros((ph, pw), np.float32)
        self.skin = np.asarray(ident.skin, np.float32)
        self.hair = np.asarray(ident.hair, np.float32)
        tex_rng = np.random.default_rng(ident.texture_seed)
        f1, f2 = tex_rng.uniform(55, 80), tex_rng.uniform(6, 11)
        ph1, ph2 = tex_rng.uniform(0, 6, 2)
        self.ph1, self.ph2 = ph1, ph2
        X, Y = self.X, self.Y
        bend = 2.5 * np.sin(Y * f2 + ph1)
        self.strands = (
            1.0 + 0.06 * np.sin(X * f1 + bend + ph2) + 0.04 * np.sin(X * f1 * 2.3 + 0.7 * bend)
        )

    def put(self, mask, color) -> None:
        m = mask[..., None]
        self.img = self.img * (1 - m) + color * m
        self.alpha = self.alpha + mask * (1 - self.alpha)

    def ell(self, cx, cy, ax, ay):
        """Anti-aliased filled ellipse mask and the normalised radius at every pixel."""
        r = np.sqrt(((self.X - cx) / ax) ** 2 + ((self.Y - cy) / ay) ** 2)
        return np.clip((1 - r) * min(ax, ay) * self.scale + 0.5, 0, 1), r


@functools.lru_cache(maxsize=48)
def _base_layers(ident: Identity, scale: int, jaw_q: int, view: str):
    """Static parts of a head (hair, ears, neck, shaded skin) for ``view`` ('front', 'profile_l',
    'profile_r', 'down'). Returns (float32 BGR image, float32 alpha, ox, oy) - do not modify."""
    L = _Layers(ident, scale)
    if view == "front":
        _front_back_hair(L, ident)
        _front_neck_ears(L, ident)
        _front_face(L, ident, jaw_q / 4.0)
        _front_hair_cap(L, ident)
    elif view.startswith("profile"):
        _profile(L, ident, -1.0 if view == "profile_l" else 1.0)
    else:
        _looking_down(L)
    img = np.clip(L.img, 0, 255)
    img.setflags(write=False)
    L.alpha.setflags(write=False)
    return img, L.alpha, L.ox, L.oy


def _front_back_hair(L: _Layers, ident: Identity) -> None:
    """Long hair or a bob, behind the head."""
    Y, b, scale, hair = L.Y, L.b, L.scale, L.hair
    if ident.hair_style == 1:  # long hair behind the head
        m, r = L.ell(0.0, 0.12, 0.64, b + 0.36)
        m = m * np.clip((b + 0.5 - Y) * scale, 0, 1)
        L.put(m, hair[None, None] * (0.55 + 0.3 * (1 - r))[..., None] * L.strands[..., None])
    elif ident.hair_style == 3:  # bob
        m, r = L.ell(0.0, -0.02, 0.6, b + 0.12)
        m = m * np.clip((0.32 - Y) * scale, 0, 1)
        L.put(m, hair[None, None] * (0.55 + 0.35 * (1 - r))[..., None] * L.strands[..., None])


def _front_neck_ears(L: _Layers, ident: Identity) -> None:
    X, Y, b, scale, skin = L.X, L.Y, L.b, L.scale, L.skin
    nw = 0.28 + 0.05 * np.clip(Y - b, 0, None)
    m = np.clip((nw - np.abs(X)) * scale + 0.5, 0, 1) * np.clip((Y - 0.2) * scale, 0, 1)
    m = m * np.clip((L.ybot - 0.02 - Y) * scale, 0, 1)
    nshade = np.clip(0.5 + 0.5 * (Y - b) / 0.25, 0.5, 0.85)
    L.put(m, skin[None, None] * nshade[..., None])
    for sx in (-1, 1):
        m, r = L.ell(sx * 0.49, ident.eye_y + 0.1, 0.06, 0.11)
        L.put(m, skin[None, None] * (0.72 + 0.12 * (1 - r))[..., None])


def _front_face(L: _Layers, ident: Identity, jaw: float) -> None:
    """The face oval with a tapered jaw; the jaw drops with an open mouth."""
    X, Y, b, scale = L.X, L.Y, L.b, L.scale
    yl = np.where(Y > 0, Y / (b * (1 + 0.08 * jaw)), Y / b)
    ax = 0.5 * (1 - ident.jaw_taper * np.clip(yl, 0, 1) ** 2)
    r = np.sqrt((X / ax) ** 2 + yl**2)
    m = np.clip((1 - r) * 0.5 * scale + 0.5, 0, 1)
    shade = (1.08 - 0.42 * np.clip(r, 0, 1) ** 3) * (1 - 0.06 * Y / b)
    L.put(m, L.skin[None, None] * shade[..., None])


def _front_hair_cap(L: _Layers, ident: Identity) -> None:
    """Hair cap and hairline (fringe, temples), locks along the cheeks for long hair; a thin
    shadow of hair for the receding style."""
    X, Y, b, scale, hair = L.X, L.Y, L.b, L.scale, L.hair
    if ident.hair_style == 2:
        mc, rc = L.ell(0.0, -0.03, 0.52, b + 0.03)
        m = mc * np.clip((ident.hairline - Y) * scale + 0.5, 0, 1) * 0.35
        L.put(m, hair[None, None] * np.ones_like(rc)[..., None])
        return
    hl = ident.hairline + 0.34 * (X / 0.5) ** 2
    if ident.fringe > 0:
        fr = ident.fringe * (0.16 - 0.06 * (X / 0.5) ** 2) + 0.012 * np.sin(X * 45 + L.ph1)
        hl = hl + np.clip(fr, 0, None)
    hl = np.minimum(hl, ident.eye_y - ident.brow_gap - 0.075)
    hl = np.where(np.abs(X) > 0.43, ident.eye_y + 0.02, hl)  # temples / sideburns
    mc, rc = L.ell(0.0, -0.03, 0.535, b + 0.05)
    m = mc * np.clip((hl - Y) * scale + 0.5, 0, 1)
    L.put(m, hair[None, None] * (0.65 + 0.35 * (1 - rc))[..., None] * L.strands[..., None])
    if ident.hair_style == 1:  # locks falling along the cheeks
        edge = 0.445 + 0.035 * np.clip((Y + 0.1) / 0.35, 0, 1)
        end = 0.22 + 0.03 * np.sin(X * 60 + L.ph2)
        m = np.clip((np.abs(X) - edge) * scale + 0.5, 0, 1) * mc
        m = m * np.clip((end - Y) * scale * 0.5, 0, 1) * np.clip((Y + 0.5) * scale, 0, 1)
        L.put(m, hair[None, None] * 0.7 * L.strands[..., None])


def _profile(L: _Layers, ident: Identity, sd: float) -> None:
    """A head turned to the side ``sd`` (-1 left, 1 right): neck, skull, nose and chin on the
    front edge, hair over the back and top, the ear."""
    X, Y, b, scale, skin, hair = L.X, L.Y, L.b, L.scale, L.skin, L.hair
    nw = 0.26
    m = np.clip((nw - np.abs(X + sd * 0.02)) * scale + 0.5, 0, 1) * np.clip((Y - 0.2) * scale, 0, 1)
    m = m * np.clip((L.ybot - 0.02 - Y) * scale, 0, 1)
    L.put(m, skin[None, None] * 0.6)
    mh, r = L.ell(0.0, 0.0, 0.46, b)
    L.put(mh, skin[None, None] * (1.0 - 0.35 * np.clip(r, 0, 1) ** 2)[..., None])
    # nose and chin on the front edge
    tri = np.zeros(L.alpha.shape, np.uint8)
    pen = _Pen(scale, L.ox, L.oy)
    nose = np.array(
        [[sd * 0.40, ident.eye_y], [sd * 0.53, ident.nose_y], [sd * 0.40, ident.nose_y + 0.03]]
    )
    cv2.fillPoly(tri, [pen.fix(nose)], 255, cv2.LINE_AA, _SHIFT)
    L.put(tri.astype(np.float32) / 255.0, skin[None, None] * 0.9)
    # hair over the back and top
    u = X * sd
    m = mh * np.clip((-0.02 - u) * scale, 0, 1)
    m = np.maximum(m, mh * np.clip((ident.hairline + 0.1 - Y + 0.25 * u) * scale, 0, 1))
    L.put(m, hair[None, None] * (0.6 + 0.3 * (1 - r))[..., None] * L.strands[..., None])
    if ident.hair_style in (1, 3):
        m2, r2 = L.ell(-sd * 0.12, 0.1, 0.4, b + (0.3 if ident.hair_style == 1 else 0.1))
        m2 = m2 * np.clip((0.0 - u) * scale, 0, 1) * np.clip((b + 0.45 - Y) * scale, 0, 1)
        L.put(m2, hair[None, None] * 0.65 * L.strands[..., None])
    m, _ = L.ell(sd * 0.02, ident.eye_y + 0.1, 0.07, 0.11)
    L.put(m * np.clip((0.12 - u) * scale + 2, 0, 1), skin[None, None] * 0.75)


def _looking_down(L: _Layers) -> None:
    """Looking down: we see the top of the head and the forehead."""
    X, Y, b, scale = L.X, L.Y, L.b, L.scale
    m = np.clip((0.27 - np.abs(X)) * scale + 0.5, 0, 1) * np.clip((Y - 0.3) * scale, 0, 1)
    m = m * np.clip((L.ybot - 0.02 - Y) * scale, 0, 1)
    L.put(m, L.skin[None, None] * 0.55)
    mh, r = L.ell(0.0, 0.08, 0.5, b * 0.9)
    L.put(mh, L.skin[None, None] * (1.0 - 0.4 * np.clip(r, 0, 1) ** 2)[..., None])
    m = mh * np.clip((0.28 + 0.1 * (X / 0.5) ** 2 - Y) * scale, 0, 1)
    L.put(m, L.hair[None, None] * (0.6 + 0.35 * (1 - r))[..., None] * L.strands[..., None])
