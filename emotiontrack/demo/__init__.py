"""Deterministic generator of the embedded demo study: synthetic faces showing the 7 FER2013
emotions, a FER2013-format training CSV and participant videos with ground-truth annotations.

Only the demo rules (rules/demo.smk) and tests use it; the pipeline never imports it. Modules, in
the order they build on each other:

- :mod:`.expressions`: the emotion names and the facial action parameters each one moves.
- :mod:`.identities`: synthetic people (:func:`identity_for`) and the stable seeds.
- :mod:`.drawing`: drawing helpers in face units, lighting and blur.
- :mod:`.head`: a head's static layers (hair, ears, neck, shaded skin) per view.
- :mod:`.face`: eyes, brows, nose, mouth, wrinkles on top; :func:`render_face`.
- :mod:`.scene`: room background, body, hands.
- :mod:`.fer`: the FER2013-format training CSV (:func:`make_fer_csv`).
- :mod:`.timeline`: a video's emotion segments, look-aways and occlusions, its annotation.
- :mod:`.videos`: participant videos (:func:`make_session_video`).

One face renderer (:func:`render_face`) is used for both the training images and the videos, and
the 48x48 training crops are cut the way the video pipeline finds and crops faces, so the CNN
trained on the CSV sees the same kind of crop in the videos. Expressions are built from a small
set of facial action parameters (brow raise/lower/squeeze, lid opening, cheek raise, lip corner
pull/depress, mouth opening, upper-lip raise, nose wrinkle, wrinkles) mixed by the emotion
weights.

Randomness: every generator here takes an explicit seed; per-participant and per-video random
streams are derived from the arguments with SHA-256 (never Python's salted ``hash()``), so the
same arguments give the same CSV rows, the same annotation and the same decoded video frames.
"""

from emotiontrack.demo.expressions import EMOTIONS
from emotiontrack.demo.face import render_face
from emotiontrack.demo.fer import FER_CLASS_WEIGHTS, FER_SPLITS, join_fer_parts, make_fer_csv
from emotiontrack.demo.identities import Identity, identity_for
from emotiontrack.demo.timeline import DEFAULT_MIXES
from emotiontrack.demo.videos import make_session_video

__all__ = [
    "DEFAULT_MIXES",
    "EMOTIONS",
    "FER_CLASS_WEIGHTS",
    "FER_SPLITS",
    "Identity",
    "identity_for",
    "join_fer_parts",
    "make_fer_csv",
    "make_session_video",
    "render_face",
]
