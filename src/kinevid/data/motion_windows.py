"""Fixed-length training windows cut from captioned motions, with mirroring and paraphrases.

`MotionWindowDataset` enumerates every window of `window_frames` frames (every `stride` frames) of
every clip, each once as captured and once mirrored (left and right exchanged, in the body with
`Motion.mirror` and in the caption with `swap_left_right`). Each window carries one caption, picked
deterministically from the clip's texts dressed in light paraphrase templates, so an item is a
pure function of its index: shuffling, resuming and multi-process loading stay reproducible.

Captions are returned as indices into `dataset.prompts` (-1 for a clip without text), so a
recipe can encode every distinct prompt once and look embeddings up per batch.

From-rest windows (`rest_start_history` > 0): a clip whose first frames are still (mean joint speed
over its first half second <= `rest_start_max_speed`, as CMU takes mostly begin) also gives windows
whose first `rest_start_history` frames are copies of its first frame and whose rest is the clip's
frames 1, 2, ...: a still history followed by the start of the action, which is what a sampler that
starts from a standing pose shows the model. They are repeated `rest_start_repeats` times (else
they would be a few thousandths of the windows) and flagged by `rest_start` in the items.

Caption balance (`caption_balance` < 1): long takes dominate the windows (on the CMU train subjects one
caption, "alaskan vacation", gives 6% of them; a jump in place 0.05%). The windows of a caption with n windows
are repeated `round((n_max / n) ** (1 - caption_balance))` times (at most `caption_balance_max_repeats`), so a
caption's share grows as `n ** caption_balance`: 1 leaves the data as it is, 0.5 is the square-root sampling
of multilingual language-model training, 0 gives every caption the same share up to the cap.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import torch
from tqdm.auto import tqdm

from ..body.rotations import matrix_to_rotation_6d, rotation_6d_to_matrix
from ..errors import InvalidInputError
from ..motion.contacts import foot_contacts
from ..motion.motion import Motion
from .side_words import add_side_words

PARAPHRASE_TEMPLATES: tuple[str, ...] = (
    "{text}",
    "a person: {text}",
    "someone performs {text}",
    "a human: {text}",
    "movement: {text}",
)
"""Templates for captions that name no subject ("forward jumps, turn around"); "{text}" is the caption."""

SUBJECTS: tuple[str, ...] = ("a person", "someone", "a man", "a woman", "the person")
"""Interchangeable subjects for captions that are sentences ("a person jumps" -> "someone jumps")."""

_LEFT_RIGHT = {
    "left": "right",
    "right": "left",
    "clockwise": "counterclockwise",
    "counterclockwise": "clockwise",
    "counter-clockwise": "clockwise",
    "anticlockwise": "clockwise",
    "anti-clockwise": "clockwise",
    "lefthand": "righthand",
    "righthand": "lefthand",
    "leftward": "rightward",
    "rightward": "leftward",
    "leftwards": "rightwards",
    "rightwards": "leftwards",
}
_LEFT_RIGHT_PATTERN = re.compile(
    r"\b(" + "|".join(sorted((re.escape(word) for word in _LEFT_RIGHT), key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_CAPTION_STRIDE = 2654435761  # prime (Knuth's multiplicative hash constant)
MIRRORED_CONTACTS = (2, 3, 0, 1)  # contact channels (l ankle, l foot, r ankle, r foot) after mirroring


def swap_left_right(text: str) -> str:
    """Exchange left/right words (and clockwise/counterclockwise), keeping capitalisation.

    >>> swap_left_right("Turn Left, then wave the right hand clockwise")
    'Turn Right, then wave the left hand counterclockwise'
    """

    def replace(match: re.Match[str]) -> str:
        word = match.group(0)
        swapped = _LEFT_RIGHT[word.lower()]
        if word.isupper() and len(word) > 1:
            return swapped.upper()
        if word[0].isupper():
            return swapped[0].upper() + swapped[1:]
        return swapped

    return _LEFT_RIGHT_PATTERN.sub(replace, text)


def paraphrases(text: str, templates: Sequence[str] = PARAPHRASE_TEMPLATES) -> list[str]:
    """Light paraphrases of a caption (stripped, lower-cased), the caption itself first, no duplicates.

    A caption that starts with one of `SUBJECTS` ("a person jumps") gets every other subject in its
    place; any other caption ("forward jumps") is put in every template. With `templates` ==
    `("{text}",)` only the caption itself is returned.
    """
    text = " ".join(text.strip().split()).lower()
    if len(templates) <= 1:
        return [template.format(text=text) for template in templates] or [text]
    for subject in SUBJECTS:
        if text.startswith(subject + " "):
            rest = text[len(subject) :]
            return list(dict.fromkeys([text] + [other + rest for other in SUBJECTS]))
    return list(dict.fromkeys(template.format(text=text) for template in templates))


def step_speeds(motion: Motion) -> torch.Tensor:
    """Mean joint speed (m/s) of each step f -> f + 1 of `motion`: `(T - 1,)`."""
    return torch.diff(motion.joints, dim=0).norm(dim=-1).mean(dim=-1) * motion.fps


def starts_at_rest(motion: Motion, max_speed: float = 0.35, seconds: float = 0.5) -> bool:
    """Whether the mean joint speed over the first `seconds` of `motion` is at most `max_speed` m/s."""
    if motion.num_frames < 2:
        return False
    steps = max(1, round(seconds * motion.fps))
    return bool(step_speeds(motion)[:steps].mean() <= max_speed)


def motion_onset(motion: Motion, max_speed: float = 0.35, seconds: float = 0.5) -> int | None:
    """The last still frame before `motion` starts to move, or None if it never does: the first frame f whose step
    to f + 1 has a mean joint speed above `max_speed` m/s and whose next `seconds` keep that mean above it (a
    sustained start, not a twitch)."""
    steps = max(1, round(seconds * motion.fps))
    if motion.num_frames <= steps:
        return None
    speed = step_speeds(motion)
    sustained = speed.unfold(0, steps, 1).mean(dim=-1) > max_speed  # steps f .. f + steps - 1
    starts = torch.nonzero((speed[: sustained.shape[0]] > max_speed) & sustained)
    return int(starts[0]) if len(starts) else None


class CaptionedMotion(Protocol):
    """Anything with a `motion` and its `texts` (e.g. `kinevid.data.cmu.CMUTrial`)."""

    motion: Motion
    texts: list[str]


def caption_key(texts: Sequence[str]) -> str:
    """The caption a clip is balanced under: its first non-empty text, lower-cased and stripped ("" for none)."""
    return next((text.strip().lower() for text in texts if text.strip()), "")


def caption_repeats(
    clips: Sequence[CaptionedMotion], window_frames: int, stride: int, balance: float, max_repeats: int
) -> dict[str, int]:
    """Copies of each captioned clip's windows under caption balance (see the module docstring).

    Returns:
        `{caption_key: repeats}` for every caption with windows; clips without a caption are not repeated
        (they train the unconditional model). Empty when `balance` is 1.
    """
    if balance >= 1.0:
        return {}
    counts: Counter[str] = Counter()
    for clip in clips:
        num_windows = (clip.motion.num_frames - window_frames) // stride + 1
        if num_windows > 0:
            counts[caption_key(clip.texts)] += num_windows
    counts.pop("", None)
    if not counts:
        return {}
    most = max(counts.values())
    return {key: min(max_repeats, max(1, round((most / n) ** (1.0 - balance)))) for key, n in counts.items()}


class MotionWindowDataset(torch.utils.data.Dataset):
    """Every `window_frames`-frame window of captioned motions, plain and mirrored.

    Args:
        clips (sequence of objects with `.motion` (`Motion`) and `.texts` (`list[str]`)): the source
            motions, all at one frame rate; clips shorter than a window are skipped.
        window_frames (`int`): frames per window (history + chunk for the structure model).
        stride (`int`, defaults to 1): frames between consecutive window starts.
        mirror (`bool`, defaults to `True`): also emit every window mirrored (left <-> right).
        templates (sequence of `str`, defaults to `PARAPHRASE_TEMPLATES`): caption templates.
        show_progress (`bool`, defaults to `True`): progress bar while indexing the clips.
        rest_start_history (`int`, defaults to 0): frames of still history of the from-rest windows
            (the model's history length); 0 adds none.
        rest_start_repeats (`int`, defaults to 1): copies of each clip's from-rest window.
        rest_start_max_speed (`float`, defaults to 0.35): m/s; clips moving faster over their first
            half second give no from-rest window.
        side_words (`bool`, defaults to False): add the acting side to captions of one-sided actions that do
            not name it ("kick" -> "kick with the right leg", read from the clip's motion;
            `kinevid.data.side_words`); `num_side_worded_clips` counts the clips changed.
        side_word_repeats (`int`, defaults to 1): copies of every window of a clip whose caption got a side
            word (they are few: 28 of the CMU train clips), so the side is seen as often as other words.
        onset_repeats (`int`, defaults to 0): copies of the onset window of each clip that starts still: the
            window whose `rest_start_history` history frames are the last still ones before `motion_onset` and whose
            chunk holds the start of the motion (a plain window, counted by `num_onset_windows`). Still-then-still
            windows outnumber still-then-moving ones in takes that begin at rest; these redress that.
        caption_balance (`float` in [0, 1], defaults to 1.0): exponent of a caption's window count in its share of
            the windows (see the module docstring; `caption_key` groups clips by caption); 1 repeats nothing.
        caption_balance_max_repeats (`int`, defaults to 16): the most copies balancing gives one window.

    Items are dicts:
        rotations_6d (`torch.Tensor` of shape `(W, 24, 6)`): local rotations, 6D (joint 0 global).
        pelvis (`torch.Tensor` of shape `(W, 3)`): world pelvis positions (floor at y = 0).
        offsets (`torch.Tensor` of shape `(24, 3)`): the clip's rest offsets.
        contacts (`torch.Tensor` of shape `(W, 4)`, float in {0, 1}): foot contacts (`foot_contacts`).
        prompt_index (`int`): index into `prompts`, -1 when the clip has no caption.
        rest_start (`bool`): a from-rest window (still history, then the clip's first frames).
    """

    def __init__(
        self,
        clips: Sequence[CaptionedMotion],
        window_frames: int,
        stride: int = 1,
        mirror: bool = True,
        templates: Sequence[str] = PARAPHRASE_TEMPLATES,
        show_progress: bool = True,
        rest_start_history: int = 0,
        rest_start_repeats: int = 1,
        rest_start_max_speed: float = 0.35,
        side_words: bool = False,
        side_word_repeats: int = 1,
        onset_repeats: int = 0,
        caption_balance: float = 1.0,
        caption_balance_max_repeats: int = 16,
    ):
        if not 0.0 <= caption_balance <= 1.0 or caption_balance_max_repeats < 1:
            raise InvalidInputError(
                f"`caption_balance` must be in [0, 1] and `caption_balance_max_repeats` >= 1, got {caption_balance} "
                f"and {caption_balance_max_repeats}."
            )
        if window_frames < 1 or stride < 1:
            raise InvalidInputError(f"`window_frames` and `stride` must be >= 1, got {window_frames} and {stride}.")
        if side_word_repeats < 1:
            raise InvalidInputError(f"`side_word_repeats` must be >= 1, got {side_word_repeats}.")
        if onset_repeats < 0 or (onset_repeats > 0 and rest_start_history < 1):
            raise InvalidInputError(
                f"`onset_repeats` must be >= 0 and needs `rest_start_history` >= 1, got {onset_repeats} and "
                f"{rest_start_history}."
            )
        if not 0 <= rest_start_history < window_frames or rest_start_repeats < 0:
            raise InvalidInputError(
                f"`rest_start_history` must be in [0, {window_frames}) and `rest_start_repeats` >= 0, "
                f"got {rest_start_history} and {rest_start_repeats}."
            )
        self.rest_start_history = rest_start_history
        self.window_frames = window_frames
        self.mirror = mirror
        self.fps: float | None = None
        self.prompts: list[str] = []
        prompt_ids: dict[str, int] = {}

        def prompt_indices(texts: Sequence[str]) -> list[int]:
            indices = []
            for text in texts:
                for prompt in paraphrases(text, templates):
                    indices.append(prompt_ids.setdefault(prompt, len(prompt_ids)))
            return indices

        self._rotations_6d: list[torch.Tensor] = []
        self._pelvis: list[torch.Tensor] = []
        self._offsets: list[torch.Tensor] = []
        self._contacts: list[torch.Tensor] = []
        self._prompts: list[tuple[list[int], list[int]]] = []  # (plain, mirrored) caption choices
        self.num_side_worded_clips = 0
        self.num_onset_windows = 0  # before mirroring, repeats included
        self.caption_repeats = caption_repeats(
            clips, window_frames, stride, caption_balance, caption_balance_max_repeats
        )
        starts: list[torch.Tensor] = []
        for clip in tqdm(clips, desc="motion windows", unit="clip", disable=not show_progress):
            motion = clip.motion
            if self.fps is None:
                self.fps = motion.fps
            elif motion.fps != self.fps:
                raise InvalidInputError(f"All clips must share one fps; got {motion.fps} after {self.fps}.")
            if motion.num_frames < window_frames:
                continue
            clip_index = len(self._rotations_6d)
            self._rotations_6d.append(matrix_to_rotation_6d(motion.rotations).float())
            self._pelvis.append((motion.translation + motion.offsets[0]).float())
            self._offsets.append(motion.offsets.float())
            self._contacts.append(foot_contacts(motion.joints, motion.fps).float())
            texts = [text for text in clip.texts if text.strip()]
            side_worded = False
            if side_words:
                labelled = [add_side_words(text, motion.joints) for text in texts]
                side_worded = labelled != texts
                self.num_side_worded_clips += side_worded
                texts = labelled
            self._prompts.append((prompt_indices(texts), prompt_indices([swap_left_right(t) for t in texts])))
            clip_starts = torch.arange(0, motion.num_frames - window_frames + 1, stride)
            clip_windows = [torch.stack([torch.full_like(clip_starts, clip_index), clip_starts, 0 * clip_starts], 1)]
            repeats = self.caption_repeats.get(caption_key(clip.texts), 1) * (side_word_repeats if side_worded else 1)
            if repeats > 1:
                clip_windows[0] = clip_windows[0].repeat(repeats, 1)
            if rest_start_history > 0 and starts_at_rest(motion, rest_start_max_speed):
                clip_windows.append(torch.tensor([[clip_index, 0, 1]]).expand(rest_start_repeats, 3))
                onset = motion_onset(motion, rest_start_max_speed) if onset_repeats > 0 else None
                start = None if onset is None else max(onset + 1 - rest_start_history, 0)  # history ends at onset
                if start is not None and start + window_frames <= motion.num_frames:
                    clip_windows.append(torch.tensor([[clip_index, start, 0]]).expand(onset_repeats, 3))
                    self.num_onset_windows += onset_repeats
            starts.append(torch.cat(clip_windows))
        if not starts:
            raise InvalidInputError(f"No clip has at least `window_frames` = {window_frames} frames.")
        self.prompts = list(prompt_ids)
        self._windows = torch.cat(starts)  # (N, 3): clip index, first frame, from-rest flag

    @property
    def num_rest_start_windows(self) -> int:
        """From-rest windows (repeats included) before mirroring."""
        return int(self._windows[:, 2].sum())

    @property
    def num_windows(self) -> int:
        """Windows before mirroring."""
        return self._windows.shape[0]

    def __len__(self) -> int:
        return self.num_windows * (2 if self.mirror else 1)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        window, mirrored = (index // 2, index % 2 == 1) if self.mirror else (index, False)
        clip, start, rest_start = (int(value) for value in self._windows[window])
        frames = slice(start, start + self.window_frames)
        if rest_start:  # the first frame held still, then the clip from its second frame
            still = self.rest_start_history
            frames = torch.cat([torch.zeros(still, dtype=torch.long), torch.arange(1, self.window_frames - still + 1)])
        rotations_6d = self._rotations_6d[clip][frames]
        pelvis = self._pelvis[clip][frames]
        offsets = self._offsets[clip]
        contacts = self._contacts[clip][frames]
        if mirrored:
            motion = Motion(rotation_6d_to_matrix(rotations_6d), pelvis - offsets[0], self.fps, offsets=offsets)
            motion = motion.mirror()
            rotations_6d = matrix_to_rotation_6d(motion.rotations)
            pelvis = motion.translation + motion.offsets[0]
            offsets = motion.offsets
            contacts = contacts[:, list(MIRRORED_CONTACTS)]
        choices = self._prompts[clip][1 if mirrored else 0]
        # Consecutive windows cycle through all of a clip's captions: the multiplier is a prime, so
        # coprime with any caption count.
        prompt_index = choices[(window * _CAPTION_STRIDE) % len(choices)] if choices else -1
        return {
            "rotations_6d": rotations_6d,
            "pelvis": pelvis,
            "offsets": offsets,
            "contacts": contacts,
            "prompt_index": prompt_index,
            "rest_start": bool(rest_start),
        }
