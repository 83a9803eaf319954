"""Emotion names and the one mapping between FER2013's integer codes and names.

FER2013's codes are NOT alphabetical: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
6 neutral. The study's emotion list (config ``emotions``) defines the order of every model output
and every probability column; loaders translate dataset labels into indices of that list.
"""

from __future__ import annotations

FER2013_CODES: dict[int, str] = {
    0: "angry",
    1: "disgust",
    2: "fear",
    3: "happy",
    4: "sad",
    5: "surprise",
    6: "neutral",
}

# Folder names seen in public FER layouts (CK+48, FER2013 image dumps) and the name they mean.
SYNONYMS: dict[str, str] = {
    "anger": "angry",
    "sadness": "sad",
    "happiness": "happy",
    "surprised": "surprise",
    "fearful": "fear",
    "disgusted": "disgust",
    "contempt": "contempt",
}


def canonical(name: str) -> str:
    """Lower-case a class name and map common synonyms (``anger`` -> ``angry``)."""
    key = name.strip().lower()
    return SYNONYMS.get(key, key)


def index_map(emotions: list[str]) -> dict[str, int]:
    """Map each canonical emotion name to its index in the study's emotion list."""
    names = [canonical(e) for e in emotions]
    if len(set(names)) != len(names):
        raise ValueError(f"emotion list has duplicates after normalisation: {emotions}")
    return {n: i for i, n in enumerate(names)}


def fer_code_to_index(emotions: list[str]) -> dict[int, int]:
    """Map FER2013 integer codes to indices in ``emotions``; codes not in the list are absent."""
    idx = index_map(emotions)
    return {code: idx[name] for code, name in FER2013_CODES.items() if name in idx}
