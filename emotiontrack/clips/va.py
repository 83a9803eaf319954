"""Valence/arousal clusters: AFEW-VA's clips grouped by k-means on their mean (valence, arousal),
the groups named, and a plot. The clusters are the classes of AFEW-VA's clip set.

Names come from a mapping file (``clips.datasets.<name>.va_names``, YAML: a name per
prototype point ``name: [valence, arousal]`` on AFEW-VA's -10..10 scale, e.g.
``config/examples/va_names.yaml``; each cluster takes the name of a distinct prototype, the
closest overall: an optimal assignment), or from the circumplex defaults
(:func:`circumplex_name`): a centre within :data:`NEUTRAL_RADIUS` of the origin is
``neutral``; otherwise the name of the 45-degree sector of Russell's circumplex its angle falls
in (:data:`SECTORS`: 0 degrees = pleasant, 90 = aroused). Two clusters in one sector are told
apart by their radius (``-strong`` / ``-mild``; more: numbered).

The result (:func:`cluster_va`) is one JSON document (:func:`write_va_clusters` /
:func:`read_va_clusters`, the one writer and reader): the classes in order (neutral first, then
counter-clockwise from pleasant), their centres and clip counts, and every clip's class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from emotiontrack import UserInputError

NEUTRAL_RADIUS = 0.2  # on the -1..1 scale: a centre this near the origin is "neutral"
# Sector centre angle (degrees, valence = x, arousal = y) -> name, after Russell (1980)
SECTORS = {
    0: "pleased",
    45: "happy",
    90: "excited",
    135: "angry",
    180: "miserable",
    225: "sad",
    270: "tired",
    315: "calm",
}
VA_SCALE = 10.0  # mapping-file prototypes are on AFEW-VA's -10..10 scale


def _angle(v: float, a: float) -> float:
    return float(np.degrees(np.arctan2(a, v)) % 360.0)


def circumplex_name(valence: float, arousal: float) -> str:
    """The default name of a cluster centred at (``valence``, ``arousal``) on -1..1."""
    if np.hypot(valence, arousal) < NEUTRAL_RADIUS:
        return "neutral"
    sector = int(round(_angle(valence, arousal) / 45.0)) % 8 * 45
    return SECTORS[sector]


def default_names(centres: np.ndarray) -> list[str]:
    """Circumplex names of (k, 2) centres, made unique by radius (-strong, -mild, -3, ...)."""
    names = [circumplex_name(v, a) for v, a in centres]
    radius = np.hypot(centres[:, 0], centres[:, 1])
    out = list(names)
    for name in set(names):
        same = [i for i, n in enumerate(names) if n == name]
        if len(same) < 2:
            continue
        same.sort(key=lambda i: -radius[i])
        tags = ["strong", "mild"] if len(same) == 2 else [str(j + 1) for j in range(len(same))]
        for i, tag in zip(same, tags, strict=True):
            out[i] = f"{name}-{tag}"
    return out


def read_va_names(path: str | Path) -> dict[str, tuple[float, float]]:
    """A mapping file: ``name: [valence, arousal]`` on -10..10 -> {name: (v, a) on -1..1}."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserInputError(f"{path}: valence/arousal names file not found (va_names)") from None
    except (OSError, yaml.YAMLError) as e:
        raise UserInputError(f"{path}: not a readable YAML file ({e})") from None
    if not isinstance(doc, dict) or not doc:
        raise UserInputError(f"{path}: expected a mapping 'name: [valence, arousal]' (-10..10)")
    out = {}
    for name, point in doc.items():
        ok = isinstance(point, list | tuple) and len(point) == 2
        if ok:
            try:
                v, a = (float(x) for x in point)
            except (TypeError, ValueError):
                ok = False
        if not ok or not (abs(v) <= VA_SCALE and abs(a) <= VA_SCALE):
            raise UserInputError(
                f"{path}: {name!r}: expected [valence, arousal], two numbers in -10..10, "
                f"got {point!r}"
            )
        out[str(name)] = (v / VA_SCALE, a / VA_SCALE)
    return out


def _names_from_file(centres: np.ndarray, path: str | Path) -> list[str]:
    from scipy.optimize import linear_sum_assignment

    protos = read_va_names(path)
    if len(protos) < len(centres):
        raise UserInputError(
            f"{path}: {len(protos)} names for {len(centres)} clusters (va_clusters); name at "
            "least as many points as clusters"
        )
    names = list(protos)
    pts = np.array([protos[n] for n in names])
    cost = np.linalg.norm(centres[:, None, :] - pts[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    out = [""] * len(centres)
    for r, c in zip(rows, cols, strict=True):
        out[r] = names[c]
    return out


def _order(centres: np.ndarray) -> np.ndarray:
    """Cluster order: the one nearest the origin first when within the neutral radius, then by
    angle counter-clockwise from pleasant (0 degrees)."""
    radius = np.hypot(centres[:, 0], centres[:, 1])
    angle = np.array([_angle(v, a) for v, a in centres])
    key = np.where(radius < NEUTRAL_RADIUS, -1.0, angle)
    return np.argsort(key, kind="stable")


def cluster_va(
    clip_ids: Sequence[str],
    subjects: Sequence[str],
    means: np.ndarray,
    *,
    k: int,
    seed: int,
    names_file: str | Path | None = None,
    where: str = "clip set",
) -> dict:
    """k-means (scikit-learn, ``seed``, 10 starts) of per-clip mean (valence, arousal) ``means``
    (N, 2) on -1..1 into ``k`` named clusters. Returns the JSON document: ``classes`` (ordered),
    ``centres`` [[v, a]] -1..1, ``counts``, ``names_from`` (the file or "circumplex defaults"),
    ``clips`` {clip id: class}, ``points`` per clip (id, subject, valence, arousal, class), ``k``,
    ``seed``, ``inertia``."""
    from sklearn.cluster import KMeans

    means = np.asarray(means, np.float64)
    if len(means) < k:
        raise UserInputError(
            f"{where}: {len(means)} clips cannot form {k} valence/arousal clusters; "
            "lower va_clusters"
        )
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(means)
    order = _order(km.cluster_centers_)
    centres = km.cluster_centers_[order]
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    labels = rank[km.labels_]
    if len(set(labels.tolist())) < k:
        raise UserInputError(
            f"{where}: k-means left a valence/arousal cluster empty; lower va_clusters"
        )
    names = _names_from_file(centres, names_file) if names_file else default_names(centres)
    return {
        "classes": names,
        "centres": np.round(centres, 4).tolist(),
        "counts": [int((labels == i).sum()) for i in range(k)],
        "names_from": str(names_file) if names_file else "circumplex defaults",
        "k": int(k),
        "seed": int(seed),
        "inertia": float(km.inertia_),
        "clips": {c: names[j] for c, j in zip(clip_ids, labels, strict=True)},
        "points": [
            {
                "clip": c,
                "subject": s,
                "valence": round(float(v), 4),
                "arousal": round(float(a), 4),
                "class": names[j],
            }
            for c, s, (v, a), j in zip(clip_ids, subjects, means, labels, strict=True)
        ],
    }


def write_va_clusters(path: str | Path, result: dict) -> None:
    """Write :func:`cluster_va`'s document as JSON."""
    Path(path).write_text(json.dumps(result, indent=1) + "\n")


def read_va_clusters(path: str | Path) -> tuple[list[str], dict[str, str]]:
    """(classes in order, {clip id: class}) from a file written by :func:`write_va_clusters`."""
    doc = json.loads(Path(path).read_text())
    return list(doc["classes"]), dict(doc["clips"])


def plot_va_clusters(result: dict, out_png: str | Path) -> None:
    """Scatter of the clips' mean (valence, arousal) coloured by cluster, the centres labelled
    with their names, the neutral circle and the circumplex axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = result["classes"]
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    for i, name in enumerate(classes):
        pts = np.array(
            [[p["valence"], p["arousal"]] for p in result["points"] if p["class"] == name]
        )
        ax.scatter(
            pts[:, 0], pts[:, 1], s=14, color=cmap(i % 10), alpha=0.7, label=f"{name} ({len(pts)})"
        )
        cv, ca = result["centres"][i]
        ax.scatter([cv], [ca], marker="X", s=120, color=cmap(i % 10), edgecolor="black")
        ax.annotate(
            name, (cv, ca), xytext=(6, 6), textcoords="offset points", fontsize=9, weight="bold"
        )
    ax.add_patch(plt.Circle((0, 0), NEUTRAL_RADIUS, fill=False, ls=":", color="grey"))
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set(
        xlim=(-1.05, 1.05),
        ylim=(-1.05, 1.05),
        xlabel="valence (clip mean)",
        ylabel="arousal (clip mean)",
        aspect="equal",
    )
    ax.set_title(
        f"{result['k']} valence/arousal clusters (k-means)\nnames: {result['names_from']}",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def cluster_clip_set(
    root: str | Path,
    out_json: str | Path,
    out_png: str | Path,
    *,
    k: int,
    seed: int,
    names_file: str | Path | None = None,
) -> dict:
    """AFEW-VA set at ``root`` -> its clusters (:func:`cluster_va` on the per-clip means read from
    the JSON files) written to ``out_json`` and plotted to ``out_png``. Returns the document."""
    from emotiontrack.clips.loaders import clip_va_means

    ids, subjects, means = clip_va_means(root)
    result = cluster_va(
        ids, subjects, means, k=k, seed=seed, names_file=names_file or None, where=str(root)
    )
    write_va_clusters(out_json, result)
    plot_va_clusters(result, out_png)
    return result
