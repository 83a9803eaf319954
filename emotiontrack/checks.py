"""Checks of everything the user wrote, run before the first job (``rules/common.smk``): the
config (against its schema, defaults filled in), the emotion names, the CNN choice and its
training classes, each video (read cheaply from its container) and each annotation's contents
against its video's duration.

Every problem raises :class:`~emotiontrack.UserInputError` with one message naming the file, the
key or row, and the fix; things that are fine but suspicious come back as warning strings.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml
from jsonschema import validators

from . import UserInputError
from .labels import FER2013_CODES, SYNONYMS, canonical
from .video import VideoInfo, probe_video

# Emotion names the workflow knows (and their synonyms, see labels.SYNONYMS).
KNOWN_EMOTIONS = (*FER2013_CODES.values(), "contempt")
# An annotation interval may end this much (seconds) after the video's last frame without a
# warning: annotation tools round to the second.
END_TOLERANCE_S = 1.0


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _subschema(schema: dict, path: list) -> dict:
    for key in path:
        if isinstance(key, int):
            schema = schema.get("items", {})
        else:
            schema = schema.get("properties", {}).get(key, {})
    return schema


def _config_message(e: jsonschema.ValidationError, schema: dict, source: str) -> str:
    """One line for a schema violation: file, key, what is wrong, what the key expects."""
    key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
    sub = _subschema(schema, list(e.absolute_path))
    if e.validator == "additionalProperties":
        known = sorted(e.schema.get("properties", {}))
        extra = sorted(set(e.instance) - set(known))
        where = f"under '{key}'" if e.absolute_path else "at the top level"
        return (
            f"{source}: unknown key {extra[0]!r} {where} ('{extra[0]}' was unexpected)"
            f"{_did_you_mean(extra[0], known)} Known keys: {', '.join(known)}"
        )
    if e.validator == "enum":
        problem = f"{_short(e.instance)} is not one of {e.validator_value}"
        problem += _did_you_mean(e.instance, map(str, e.validator_value))
    elif e.validator == "type":
        problem = f"{_short(e.instance)} is not of type {e.validator_value!r}"
    elif e.validator == "pattern" and e.absolute_path and isinstance(e.absolute_path[-1], int):
        problem = f"{_short(e.instance)} must be lower-case letters, digits, '_' or '-'"
    else:
        problem = e.message if len(e.message) <= 160 else e.message[:157] + "..."
    hint = sub.get("description", "")
    if "default" in sub:
        hint += f" (default: {json.dumps(sub['default'])})"
    return f"{source}: key '{key}': {problem}" + (f". Expected: {hint}" if hint else "")


def _with_defaults(cls):
    """A validator class that fills in each property's ``default`` (as snakemake's validate)."""
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, json.loads(json.dumps(sub["default"])))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(cls, {"properties": set_defaults})


@functools.lru_cache(maxsize=4)
def _schema(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def check_config(config: dict, schema_path: str | Path, source: str) -> dict:
    """Validate ``config`` against the JSON schema at ``schema_path``, filling in defaults in
    place; raise UserInputError naming ``source`` (the config file), the key and what it expects —
    the first problem only, without the schema."""
    if not isinstance(config, dict):
        raise UserInputError(f"{source}: the config must be a mapping of keys to values")
    schema = _schema(str(schema_path))
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    try:
        errors = list(validator.iter_errors(config))
    except (TypeError, ValueError) as e:  # e.g. a non-string key
        raise UserInputError(f"{source}: cannot read the config ({e})") from None
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        # one line, whatever the keys hold
        text = _config_message(best, schema, source)
        raise UserInputError(text.replace("\n", "\\n").replace("\r", "\\r"))
    return config


def check_emotions(emotions: list[str], source: str, extra: Iterable[str] = ()) -> None:
    """Every name in ``emotions`` must be a known emotion or a synonym of one (``anger``), or one
    of ``extra`` (class folders of an image-folder dataset); no two may mean the same."""
    known = {*KNOWN_EMOTIONS, *map(canonical, extra)}
    seen: dict[str, str] = {}
    for name in emotions:
        key = canonical(name)
        if key not in known:
            raise UserInputError(
                f"{source}: key 'emotions': {name!r} is not a known emotion"
                f"{_did_you_mean(key, [*known, *SYNONYMS])} Known: {', '.join(KNOWN_EMOTIONS)} "
                "(and synonyms such as 'anger', 'happiness')"
            )
        if key in seen:
            raise UserInputError(
                f"{source}: key 'emotions': {name!r} and {seen[key]!r} name the same emotion; "
                "list it once"
            )
        seen[key] = name


def check_pretrained(spec: str, emotions: list[str], source: str) -> None:
    """``cnn.pretrained``: empty, a built-in model name whose classes cover ``emotions``, or a
    path to a Keras model file (which must exist)."""
    from .pretrained import BUILTIN, MODEL_SUFFIXES

    if not spec:
        return
    if spec in BUILTIN:
        missing = [e for e in emotions if canonical(e) not in BUILTIN[spec].classes]
        if missing:
            raise UserInputError(
                f"{source}: key 'cnn.pretrained': {spec!r} does not classify {missing} "
                f"(its classes: {', '.join(BUILTIN[spec].classes)}); drop them from 'emotions' "
                'or train a CNN (cnn.pretrained: "")'
            )
        return
    if Path(spec).suffix.lower() not in MODEL_SUFFIXES:
        raise UserInputError(
            f"{source}: key 'cnn.pretrained': {spec!r} is neither a built-in model "
            f"({', '.join(BUILTIN)}) nor a model file ({', '.join(MODEL_SUFFIXES)})"
            f"{_did_you_mean(spec, BUILTIN)}"
        )
    if not Path(spec).is_file():
        raise UserInputError(f"{source}: key 'cnn.pretrained': model file {spec!r} not found")


def training_class_counts(path: str | Path, fmt: str = "auto") -> dict[str, int]:
    """Images per (canonical) class name in a FER training set, without loading any image: the
    FER2013 CSV's ``emotion`` column, or the image files in each class folder."""
    from .datasets import FOLDER_SPLITS, IMAGE_SUFFIXES

    p = Path(path)
    if fmt == "auto":
        fmt = "fer2013-csv" if p.suffix.lower() == ".csv" else "image-folders"
    if fmt == "fer2013-csv":
        if not p.is_file():
            raise UserInputError(f"{p}: FER training set not found (config key fer.path)")
        try:
            codes = pd.read_csv(p, usecols=["emotion"])["emotion"]
        except (ValueError, OSError, pd.errors.ParserError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserInputError(
                f"{p}: cannot read as a FER2013 CSV with columns emotion,pixels,Usage ({first}); "
                "config key fer.path"
            ) from None
        counts = pd.to_numeric(codes, errors="coerce").value_counts()
        return {FER2013_CODES[int(c)]: int(n) for c, n in counts.items() if int(c) in FER2013_CODES}
    if not p.is_dir():
        raise UserInputError(
            f"{p}: image-folder training set not found (config key fer.path expects a directory)"
        )
    subdirs = [d for d in p.iterdir() if d.is_dir()]
    roots = [d for d in subdirs if d.name.lower() in FOLDER_SPLITS] or [p]
    counts: dict[str, int] = {}
    for root in roots:
        for d in root.iterdir():
            if d.is_dir():
                n = sum(1 for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
                counts[canonical(d.name)] = counts.get(canonical(d.name), 0) + n
    return counts


def check_training_images(emotions: list[str], counts: dict[str, int], fer_path: str) -> None:
    """Every configured emotion needs training images in the FER set."""
    empty = [e for e in emotions if counts.get(canonical(e), 0) == 0]
    if empty:
        have = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v) or "none"
        raise UserInputError(
            f"{fer_path}: no training images for {', '.join(map(repr, empty))} of config key "
            f"'emotions' (images per class there: {have}); drop the class from 'emotions' or "
            "add its images"
        )


# --------------------------------------------------------------------------------------------
# videos and annotations
# --------------------------------------------------------------------------------------------


def probe_videos(paths: Iterable[str], cache_path: str | Path | None = None) -> dict[str, Any]:
    """``{path: VideoInfo or the UserInputError message}`` for each video, read cheaply from the
    container (:func:`~emotiontrack.video.probe_video`). With ``cache_path``, results are kept in
    a JSON file keyed by path, size and modification time, so repeated dry runs do not reopen
    unchanged videos."""
    cache: dict = {}
    if cache_path and Path(cache_path).is_file():
        try:
            cache = json.loads(Path(cache_path).read_text())
        except (OSError, ValueError):
            cache = {}
    out: dict[str, Any] = {}
    changed = False
    for path in dict.fromkeys(paths):
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except (OSError, ValueError):
            stamp = "missing"
        hit = cache.get(path)
        if hit and hit.get("stamp") == stamp:
            res = hit["result"]
        else:
            try:
                info = probe_video(path)
                res = {k: getattr(info, k) for k in ("path", "fps", "n_frames", "width", "height")}
            except UserInputError as e:
                res = str(e)
            cache[path] = {"stamp": stamp, "result": res}
            changed = True
        out[path] = VideoInfo(**res) if isinstance(res, dict) else res
    if cache_path and changed:
        try:
            Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(f"{cache_path}.{os.getpid()}.part")
            tmp.write_text(json.dumps(cache))
            tmp.replace(cache_path)
        except OSError:
            pass  # a cache only
    return out


def check_annotation(
    path: str, emotions: list[str], where: str, video: VideoInfo | None = None
) -> list[str]:
    """Check an annotation's contents (columns, numeric ordered non-overlapping times, known
    emotion names and their synonyms) and, given its video, its times against the video's
    duration: intervals that all lie past the end, or times that look like milliseconds (ten
    times the video's length and more), are an error (with the likely unit mistake),
    some past the end or an annotation covering a sixtieth of the video are warnings. ``where``
    names the sheet row. Returns the warnings."""
    from .annotations import load_annotation

    try:
        ann = load_annotation(path, emotions)
    except UserInputError as e:
        raise UserInputError(f"{where}: {e}") from None
    if video is None or video.duration_s <= 0:
        return []
    start, end = ann["start_s"].to_numpy(float), ann["end_s"].to_numpy(float)
    duration = video.duration_s
    span = f"{start.min():g}-{end.max():g} s"
    in_ms = end.max() / 1000 <= duration + END_TOLERANCE_S
    unit = " The times look like milliseconds: divide them by 1000." if in_ms else ""
    if start.min() >= duration:
        raise UserInputError(
            f"{where}: annotation {path!r}: every interval ({span}) lies past the end of the "
            f"video {video.path!r} ({duration:.1f} s); times must be seconds from the video's "
            f"start.{unit or ' Is it the annotation of another video?'}"
        )
    if in_ms and end.max() > 10 * (duration + END_TOLERANCE_S):
        raise UserInputError(
            f"{where}: annotation {path!r}: intervals reach {end.max():g} s, "
            f"{end.max() / duration:.0f} times the length of the video {video.path!r} "
            f"({duration:.1f} s); times must be seconds from the video's start.{unit}"
        )
    warnings = []
    past = end > duration + END_TOLERANCE_S
    if past.any():
        warnings.append(
            f"{where}: annotation {path!r}: {int(past.sum())} of {len(end)} intervals extend "
            f"past the video's end ({duration:.1f} s; annotation spans {span}); frames after the "
            "end cannot be scored"
        )
    if duration >= 60 and end.max() * 60 <= duration + END_TOLERANCE_S:
        warnings.append(
            f"{where}: annotation {path!r} covers only {span} of a {duration:.0f} s video: "
            "are its times in minutes? They must be seconds"
        )
    return warnings


def sampling_warning(video: VideoInfo, sample_fps: float, where: str) -> str | None:
    """A warning when ``frames.fps`` exceeds the video's own frame rate (every frame is taken)."""
    if video.fps > 0 and sample_fps > video.fps + 1e-6:
        return (
            f"{where}: frames.fps = {sample_fps:g} is above the video's own rate "
            f"({video.fps:g} fps): every frame is taken, and later steps use {video.fps:g} fps"
        )
    return None


def effective_fps(sample_fps: float, videos: Iterable[VideoInfo]) -> float:
    """The rate the frames of ``videos`` are actually sampled at: ``sample_fps``, or the slowest
    video's own rate when that is lower (every frame of it is taken)."""
    slower = [v.fps for v in videos if 0 < v.fps < sample_fps]
    return float(min(slower)) if slower else sample_fps
