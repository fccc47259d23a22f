"""Motion timelines: a prompt or a spec as ordered (text, seconds) segments.

`split_motion_sequence` splits a motion prompt at its sequence markers ("A and then B",
"A, then B", "A then B", "first A, then B", also ". Then" and "; then"): the segments keep their
order, the first one its subject and later ones get it back ("a person walks forward and then
jumps" -> "a person walks forward", "a person jumps"). A segment may say how long it lasts
("walks for 3 seconds"); the others share the rest of the clip evenly (`resolve_timeline`).

`parse_timeline` reads the explicit form of `kinevid motion --timeline`: comma-separated
`TEXT:SECONDS` parts ("walk forward:3, jump:2"), or a JSON file holding `[[text, seconds], ...]`
(`read_timeline_file`). Bad input is an `InvalidInputError` naming the part.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kinevid.errors import InvalidInputError
from kinevid.text.motion_prompt.rules import SUBJECT

MAX_SEGMENTS = 64
MAX_SEGMENT_SECONDS = 600.0

# "and then" / ", then" / " then " / ". Then" / "; then", optionally followed by a comma.
_THEN = re.compile(r"\s*(?:[,;.]\s*|\s+)(?:and\s+)?then\b\s*,?\s*", re.IGNORECASE)
_FIRST = re.compile(r"^(?P<subject>.*?\b)?first\s*,?\s+", re.IGNORECASE)
_SUBJECT_START = re.compile(r"^(a|an|the)\s+\w+\s+", re.IGNORECASE)
_DURATION = re.compile(r"\s*\bfor\s+(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>seconds?|secs?|s)\b\.?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class TimelineSegment:
    """One part of a timeline.

    Args:
        text (`str`): what the person does in this part.
        seconds (`float`, *optional*): how long it lasts; None shares the clip's remaining time evenly.
    """

    text: str
    seconds: float | None = None


def split_motion_sequence(prompt: str) -> list[TimelineSegment]:
    """Split a motion prompt into its ordered segments (one segment when it has no sequence marker).

    Examples:
        >>> [s.text for s in split_motion_sequence("a person walks forward and then jumps")]
        ['a person walks forward', 'a person jumps']
        >>> split_motion_sequence("first walk for 3 seconds, then jump")[0]
        TimelineSegment(text='walk', seconds=3.0)
    """
    text = " ".join(str(prompt).split())
    parts = [part.strip(" ,;.") for part in _THEN.split(text)]
    parts = [part for part in parts if part]
    if len(parts) <= 1:
        return [_with_duration(text.strip())] if text.strip() else []
    first = _FIRST.match(parts[0])
    if first:  # "first A" / "a person first A": drop the word, keep any subject before it
        parts[0] = (first.group("subject") or "") + parts[0][first.end() :]
    subject = _subject_of(parts[0])
    segments = []
    for index, part in enumerate(parts):
        if index > 0 and subject and not _SUBJECT_START.match(part):
            part = f"{subject} {part}"
        segments.append(_with_duration(part))
    return segments


def _subject_of(text: str) -> str:
    """The subject words a segment starts with ("a person"), or "" when it starts with a verb."""
    if text.lower().startswith(SUBJECT + " "):
        return SUBJECT
    match = _SUBJECT_START.match(text)
    return match.group(0).strip() if match else ""


def _with_duration(text: str) -> TimelineSegment:
    match = _DURATION.search(text)
    if match is None:
        return TimelineSegment(text)
    number = float(match.group("number"))
    return TimelineSegment(text[: match.start()].strip(), number if number > 0 else None)


def parse_timeline(spec: str) -> list[TimelineSegment]:
    """Read `"walk forward:3, jump:2"`: comma-separated `TEXT:SECONDS` parts (seconds > 0).

    Raises:
        `InvalidInputError`: an empty spec, or a part without text or with bad seconds (named).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError('--timeline is empty; expected TEXT:SECONDS parts, e.g. "walk forward:3, jump:2".')
    segments = []
    for index, part in enumerate(spec.split(","), start=1):
        text, separator, seconds = part.strip().rpartition(":")
        if not separator:
            raise InvalidInputError(f'--timeline part {index} "{part.strip()}": expected TEXT:SECONDS, e.g. "jump:2".')
        segments.append(_segment(text, seconds, f'--timeline part {index} "{part.strip()}"'))
    return _checked(segments, "--timeline")


def read_timeline_file(path: str | os.PathLike[str]) -> list[TimelineSegment]:
    """Read a JSON timeline file: `[[text, seconds], ...]`.

    Raises:
        `InvalidInputError`: unreadable or malformed file, or a bad entry (named by its index).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"Timeline file {path} does not exist.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"Timeline file {path} is not JSON ({error}).") from None
    except OSError as error:
        raise InvalidInputError(f"Timeline file {path}: cannot read ({error.strerror}).") from None
    if not isinstance(data, list) or not data:
        raise InvalidInputError(
            f'Timeline file {path}: expected a non-empty list [[text, seconds], ...], e.g. [["walk", 3]].'
        )
    segments = []
    for index, entry in enumerate(data):
        where = f"Timeline file {path}, entry {index}"
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise InvalidInputError(f"{where}: expected [text, seconds], got {json.dumps(entry)[:80]}.")
        if isinstance(entry[1], bool) or not isinstance(entry[1], (int, float)):
            raise InvalidInputError(f"{where}: seconds must be a number, got {json.dumps(entry[1])[:40]}.")
        segments.append(_segment(entry[0], str(entry[1]), where))
    return _checked(segments, f"Timeline file {path}")


def load_timeline(spec: str) -> list[TimelineSegment]:
    """`read_timeline_file` when `spec` names an existing `.json` file, else `parse_timeline`."""
    if spec.strip().lower().endswith(".json"):
        return read_timeline_file(spec.strip())
    return parse_timeline(spec)


def _segment(text: str, seconds: str, where: str) -> TimelineSegment:
    text = " ".join(text.split())
    if not text:
        raise InvalidInputError(f"{where}: the text is empty; say what the person does, e.g. 'walk forward:3'.")
    try:
        value = float(seconds)
    except ValueError:
        raise InvalidInputError(f"{where}: seconds must be a number, got {seconds.strip()!r}.") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_SEGMENT_SECONDS:
        raise InvalidInputError(f"{where}: seconds must be in (0, {MAX_SEGMENT_SECONDS:g}], got {seconds.strip()}.")
    return TimelineSegment(text, value)


def _checked(segments: list[TimelineSegment], where: str) -> list[TimelineSegment]:
    if len(segments) > MAX_SEGMENTS:
        raise InvalidInputError(f"{where}: at most {MAX_SEGMENTS} segments, got {len(segments)}.")
    return segments


def resolve_timeline(segments: Sequence[TimelineSegment], seconds: float | None) -> list[tuple[str, float]]:
    """Durations for every segment: explicit ones kept, the others sharing `seconds` minus them evenly.

    Args:
        segments (sequence of `TimelineSegment`): in order.
        seconds (`float`, *optional*): the clip's duration; None means the sum of explicit durations
            (then every segment must have one).

    Returns:
        `[(text, seconds), ...]`, summing to `seconds` when some segment had no explicit duration.

    Raises:
        `InvalidInputError`: no segment, or explicit durations leave no time for the others.
    """
    if not segments:
        raise InvalidInputError("The timeline has no segment.")
    explicit = sum(s.seconds for s in segments if s.seconds is not None)
    open_segments = [s for s in segments if s.seconds is None]
    if not open_segments:
        return [(s.text, float(s.seconds)) for s in segments]
    if seconds is None:
        raise InvalidInputError(
            f"Timeline segment {open_segments[0].text!r} has no duration and no total `seconds` was given."
        )
    remaining = seconds - explicit
    if remaining <= 0:
        raise InvalidInputError(
            f"The timeline's explicit durations ({explicit:g} s) leave no time of the {seconds:g} s clip for "
            f"{open_segments[0].text!r}."
        )
    share = remaining / len(open_segments)
    return [(s.text, float(s.seconds) if s.seconds is not None else share) for s in segments]
