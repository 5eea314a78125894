"""The "what if" mode's controls, one per feature, made from the data contract (``jukebox/data_contract.py``).

The page asks ``GET /api/controls`` and draws what it gets: no range is written in JavaScript.

- A boolean (``is_explicit``) and a feature with two allowed values (``mode``) are **toggles**.
- Any other feature is a **slider** over the contract's range (``min`` … ``max``). Its step is the
  power of ten that cuts the range into at most a thousand steps (0.001 for a share between 0 and
  1, 1 for ``tempo`` in BPM, 10 s for ``duration_ms``); an integer steps by 1 at least.
- ``key`` shows pitch names (Spotify's pitch classes: 0 is C, 1 is C♯/D♭ …; -1 is "no key found").

Which controls the page shows, and in which order, is the served model's business: the page
takes the model's features from its metadata (``GET /v2/models/jukebox``).
"""

import math

from jukebox.data_contract import FEATURE_RULES

PITCHES = ["C", "C♯/D♭", "D", "D♯/E♭", "E", "F", "F♯/G♭", "G", "G♯/A♭", "A", "A♯/B♭", "B"]
LABELS = {  # what a value means, in words, where a number alone says little
    "is_explicit": {0: "not explicit", 1: "explicit"},
    "mode": {0: "minor", 1: "major"},
    "key": {-1: "no key found", **dict(enumerate(PITCHES))},
}
UNITS = {"loudness": "dB", "tempo": "BPM", "duration_ms": "min:s"}
MOST_STEPS = 1000  # a slider has at most this many steps across its range


def step(rule: dict) -> float:
    """The power of ten that cuts the rule's range into at most ``MOST_STEPS`` steps (1 at least for an integer)."""
    size = 10.0 ** math.ceil(math.log10((rule["max"] - rule["min"]) / MOST_STEPS))
    return max(1, int(size)) if rule["type"] == "integer" else size


def control(name: str, rule: dict) -> dict:
    """One feature's control: ``{name, kind, min, max, step, labels?, unit?}``."""
    labels = {str(value): text for value, text in LABELS.get(name, {}).items()}
    if rule["type"] == "boolean" or len(rule.get("values", [])) == 2:
        values = rule.get("values", [0, 1])
        return {"name": name, "kind": "toggle", "min": min(values), "max": max(values), "step": 1, "labels": labels}
    found = {"name": name, "kind": "slider", "min": rule["min"], "max": rule["max"], "step": step(rule)}
    if labels:
        found["labels"] = labels
    if name in UNITS:
        found["unit"] = UNITS[name]
    return found


def controls() -> list[dict]:
    """Every feature's control, in the contract's order."""
    return [control(name, rule) for name, rule in FEATURE_RULES.items()]
