"""FER training-set loaders: the FER2013 Kaggle CSV and image-folder layouts.

All loaders return the same thing: ``{"train": (X, y), "val": (X, y), "test": (X, y)}`` with X
(N, H, W) uint8 grayscale and y (N,) int64 indices into the study's emotion list. Classes that the
emotion list does not name are dropped (logged), so a 5-class CK+-style study can read a 7-class
set. FER2013 codes are translated through :mod:`emotiontrack.labels` (the one mapping).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from . import UserInputError
from .labels import canonical, fer_code_to_index, index_map

log = logging.getLogger(__name__)

Splits = dict[str, tuple[np.ndarray, np.ndarray]]

FER_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
FOLDER_SPLITS = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "publictest": "val",
    "test": "test",
    "testing": "test",
    "privatetest": "test",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".tif", ".tiff"}


def load_fer2013_csv(path: str | Path, emotions: list[str]) -> Splits:
    """Read a FER2013 CSV (``emotion,pixels,Usage``; 48x48 = 2304 pixels per row)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"emotion": "Int64", "pixels": str, "Usage": str})
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise UserInputError(f"{path}: cannot read as FER2013 CSV ({e})") from None
    missing = {"emotion", "pixels", "Usage"} - set(df.columns)
    if missing:
        raise UserInputError(
            f"{path}: FER2013 CSV needs columns emotion,pixels,Usage; missing {sorted(missing)}"
        )
    bad_usage = ~df["Usage"].isin(list(FER_USAGE))
    if bad_usage.any():
        row = int(np.flatnonzero(bad_usage)[0])
        raise UserInputError(
            f"{path}: row {row + 2}: Usage {df['Usage'].iloc[row]!r} "
            f"is not one of {list(FER_USAGE)}"
        )
    code_map = fer_code_to_index(emotions)
    bad_code = df["emotion"].isna() | ~df["emotion"].isin(range(7))
    if bad_code.any():
        row = int(np.flatnonzero(bad_code)[0])
        raise UserInputError(
            f"{path}: row {row + 2}: emotion {df['emotion'].iloc[row]} is not a FER2013 code 0-6"
        )
    keep = df["emotion"].isin(list(code_map)).to_numpy()
    if (~keep).any():
        log.info("%s: dropping %d rows of classes not in the emotion list", path, (~keep).sum())
    df = df[keep]
    pixels = df["pixels"].str.split()
    lengths = pixels.str.len()
    side = 48
    bad_len = lengths != side * side
    if bad_len.any():
        row = int(df.index[np.flatnonzero(bad_len.to_numpy())[0]])
        raise UserInputError(
            f"{path}: row {row + 2}: {lengths.loc[row]} pixel values, expected {side * side}"
        )
    X = np.array(pixels.tolist(), dtype=np.int64)
    if X.size and (X.min() < 0 or X.max() > 255):
        raise UserInputError(f"{path}: pixel values must lie in 0-255")
    X = X.astype(np.uint8).reshape(-1, side, side)
    y = df["emotion"].map(code_map).to_numpy(dtype=np.int64)
    split = df["Usage"].map(FER_USAGE).to_numpy()
    return {s: (X[split == s], y[split == s]) for s in ("train", "val", "test")}


def _read_class_dirs(root: Path, emotions: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    idx = index_map(emotions)
    X, y = [], []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        name = canonical(d.name)
        if name not in idx:
            log.info("%s: class folder not in the emotion list, skipped", d)
            continue
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise UserInputError(f"{f}: not a readable image")
            if img.shape != (size, size):
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            X.append(img)
            y.append(idx[name])
    return np.array(X, np.uint8).reshape(-1, size, size), np.array(y, np.int64)


def stratified_split(
    X: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split off ``fraction`` of each class (at least one image where the class has two or more)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(y), bool)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        k = round(len(members) * fraction)
        if len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        held[members[:k]] = True
    return (X[~held], y[~held]), (X[held], y[held])


def load_image_folders(
    path: str | Path,
    emotions: list[str],
    *,
    size: int = 48,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> Splits:
    """Read ``<split>/<class>/*.png`` (split folders like train/val/test or Training/PublicTest/
    PrivateTest) or CK+48-style ``<class>/*.png`` (then split here, stratified and seeded).
    Missing val/test splits are carved from train."""
    root = Path(path)
    if not root.is_dir():
        raise UserInputError(f"{root}: image-folder dataset not found (expected a directory)")
    subdirs = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    split_dirs = {FOLDER_SPLITS[k]: p for k, p in subdirs.items() if k in FOLDER_SPLITS}
    if split_dirs:
        out = {s: _read_class_dirs(p, emotions, size) for s, p in split_dirs.items()}
    else:
        out = {"train": _read_class_dirs(root, emotions, size)}
    if "train" not in out or len(out["train"][1]) == 0:
        raise UserInputError(f"{root}: no training images of the emotions {emotions} found")
    if "test" not in out:
        out["train"], out["test"] = stratified_split(*out["train"], test_fraction, seed)
    if "val" not in out:
        out["train"], out["val"] = stratified_split(*out["train"], val_fraction, seed + 1)
    return out


def load_fer_dataset(
    path: str | Path,
    emotions: list[str],
    *,
    fmt: str = "auto",
    size: int = 48,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Splits:
    """Load a FER set in ``fmt`` ``fer2013-csv``, ``image-folders`` or ``auto`` (by path)."""
    p = Path(path)
    if fmt == "auto":
        fmt = "fer2013-csv" if p.suffix.lower() == ".csv" else "image-folders"
    if fmt == "fer2013-csv":
        data = load_fer2013_csv(p, emotions)
        if size != 48:
            data = {
                s: (
                    np.array([cv2.resize(x, (size, size)) for x in X], np.uint8).reshape(
                        -1, size, size
                    ),
                    y,
                )
                for s, (X, y) in data.items()
            }
    elif fmt == "image-folders":
        data = load_image_folders(
            p,
            emotions,
            size=size,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
        )
    else:
        raise UserInputError(
            f"unknown FER dataset format {fmt!r} (fer2013-csv, image-folders, auto)"
        )
    for s, (_, y) in data.items():
        counts = np.bincount(y, minlength=len(emotions))
        log.info(
            "%s %s: %d images, per class %s",
            p,
            s,
            len(y),
            dict(zip(emotions, counts.tolist(), strict=True)),
        )
    return data
