"""Evaluation clips: held-out mocap trials cut into fixed windows, each paired with its caption.

CMU trials are long (median about 15 s) and their captions describe the whole take; the
evaluator reads at most `max_frames` feature frames, so a trial is cut into consecutive,
non-overlapping windows of that length (the last one kept if it has at least `min_frames`).
Every window of a trial carries the trial's first (most specific) caption. The evaluation uses
one window per trial (its start): windows of one trial share a caption, and two pairs with the
same caption in one R-precision batch of 32 cannot be told apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import InvalidInputError
from ..motion.motion import Motion


@dataclass
class EvaluationClip:
    """One (motion, text) pair of an evaluation set.

    Args:
        trial_id (`str`): the source trial (e.g. `"02_01"`).
        start_frame (`int`): first frame of the window in the trial, at the clip's fps.
        motion (`Motion`): the window.
        text (`str`): its caption.
    """

    trial_id: str
    start_frame: int
    motion: Motion
    text: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.motion.duration


def cut_clips(
    trials: Iterable, window_frames: int, min_frames: int, windows_per_trial: int | None = None
) -> list[EvaluationClip]:
    """Cut trials into non-overlapping windows.

    Args:
        trials (iterable of `kinevid.data.cmu.CMUTrial`-like objects with `trial_id`, `motion`
            and `texts`): trials without a caption are skipped.
        window_frames (`int`): motion frames per window (the evaluator's `max_frames + 1`).
        min_frames (`int`): shortest window kept, in frames (>= 2).
        windows_per_trial (`int`, *optional*): keep at most this many windows of each trial (from
            its start); all by default.

    Returns:
        The clips, trial by trial, in time order.
    """
    if min_frames < 2 or window_frames < min_frames:
        raise InvalidInputError(
            f"Need 2 <= `min_frames` <= `window_frames`, got min_frames={min_frames}, window_frames={window_frames}."
        )
    clips = []
    for trial in trials:
        if not trial.texts:
            continue
        for window, start in enumerate(range(0, trial.motion.num_frames, window_frames)):
            stop = min(start + window_frames, trial.motion.num_frames)
            if stop - start < min_frames or (windows_per_trial is not None and window >= windows_per_trial):
                break
            clips.append(EvaluationClip(trial.trial_id, start, trial.motion.slice(start, stop), trial.texts[0]))
    return clips
