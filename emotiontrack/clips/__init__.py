"""Labelled clips: whole-clip emotion classifiers trained and evaluated on labelled clip sets
(CK+-style frame folders, CREMA-D-style videos, AFEW-VA-style frame folders with valence and
arousal), a branch of the workflow independent of the session sheet.

- :mod:`.demo`: offline demo sets in the three layouts, rendered by the demo face renderer.
- :mod:`.loaders`: read a set in its layout, resample each clip to a fixed length, split by
  subject -> :class:`emotiontrack.formats.ClipSet`.
- :mod:`.faces`: a clip's face crops (the frames stage's finder and crop) and face mesh.
- :mod:`.va`: valence/arousal clusters (k-means) that become AFEW-VA's classes, and their plot.

The clip-set file (``results/clips/{dataset}/clips.h5``) is read and written only by
:func:`emotiontrack.formats.read_clips` / :func:`~emotiontrack.formats.write_clips`.
"""
