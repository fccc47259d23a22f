"""Kinematic action probes: does a generated motion do what its prompt says?

Each `ActionProbe` is one action family ("kick with the right leg", "turn around", "sit down",
...): a few prompts, the CMU trials whose captions name that action, and a conjunction of
`Criterion`s, physical quantities of the motion's joints compared with named thresholds (the right
ankle's peak height above the floor, seconds with the right wrist above the right shoulder, the
heading change, the speed along the facing direction, the pelvis rise, the mean joint speed of
the first half second, ...). Thresholds are calibrated on the real CMU clips of each family: the
real clips must pass (`real_probe_clips`, `check_clip`), and a contrasting action must not (tests
in `tests/structure/test_probes.py`).

Conventions: every motion is first canonicalised (floor = lowest joint over the clip at y = 0,
frame 0 facing +Z, which puts the person's left at +X); heights are metres above that floor,
speeds m/s, angles degrees. Pelvis heights are also given as a ratio of the body's standing pelvis
height (its rest pose), so that thresholds hold for tall and short bodies alike.

CMU captions rarely say which side acts ("kick", "wave", "walk sideways"). A real clip of a sided
family is therefore mirrored to the prompt's side when its own measure says the other side acted
(`ActionProbe.side_measure` < 0, e.g. the left ankle rose higher than the right); the full check
then runs on that clip, so the one-sidedness criteria (the other hand stays down) still count.

Example:
    ```python
    from kinevid.eval.probes import ACTION_PROBES, run_model_probes, run_real_probes, probe_table

    model = run_model_probes(pipeline, seeds=(0, 1, 2))
    real = run_real_probes()
    print(probe_table(model, real))
    ```
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import torch
from tqdm.auto import tqdm

from ..body.skeleton import SMPL24
from ..errors import InvalidInputError
from ..motion.limbs import OTHER_SIDE, SHOULDERS, WRISTS, ankle_peak, wrist_raise
from ..motion.motion import Motion, heading_angle

# SMPL-24 joints the probes read.
PELVIS = SMPL24.index("pelvis")
NECK = SMPL24.index("neck")
HEAD = SMPL24.index("head")

START_SECONDS = 0.5  # "the start" and "the end" of a clip: its first / last half second
MIN_CLIP_SECONDS = 1.0  # real clips shorter than this are not used
MAX_REAL_CLIPS = 30  # real clips per family (the first in index order)


# Thresholds, calibrated on the CMU clips each family lists (values in the README section).
REST_START_SPEED = 0.35  # m/s, mean joint speed of the first 0.5 s of a motion that starts from rest
STAND_START_RATIO = 0.85  # pelvis over standing height in the first 0.5 s: the person starts standing
KICK_ANKLE_HEIGHT = 0.40  # m, the kicking ankle's peak
KICK_SIDE_MARGIN = 0.10  # m, kicking ankle's peak over the other ankle's
WAVE_RAISE = -0.05  # m, the waving wrist's peak over its shoulder (a wave lifts the hand to shoulder height)
WAVE_SIDE_MARGIN = 0.15  # m, waving wrist's raise over the other wrist's
TURN_DEGREES = 135.0  # largest turn away from the initial heading
BACKWARD_SPEED = 0.25  # m/s, backwards along the facing direction
SIDESTEP_SECONDS = 3.0  # s, the first sidesteps are measured over this much of the clip
SIDESTEP_DISTANCE = 0.4  # m towards the prompt's side over the first SIDESTEP_SECONDS
SIDESTEP_MAX_FORWARD = 0.6  # m forwards or backwards over the same time, at most
SIDESTEP_MAX_TURN = 60.0  # degrees: a sidestep does not turn to walk
JUMP_PELVIS_RISE = 0.12  # m, pelvis peak over its median
JUMP_FLIGHT = 0.05  # m, the lowest joint's peak over its median (both feet off the floor)
JUMP_IN_PLACE_RANGE = 1.6  # m, farthest horizontal pelvis distance from the start (CMU's jumps drift)
WALK_BEFORE_JUMP = 0.8  # m walked forward before the jump's flight
SIT_RATIO = 0.75  # pelvis below this x standing height counts as seated
SIT_SECONDS = 0.5  # s held below SIT_RATIO
SQUAT_RATIO = 0.8  # the pelvis goes below this x standing height
CRAWL_PELVIS_RATIO = 0.7  # pelvis below this x standing height ...
CRAWL_WRIST_HEIGHT = 0.4  # m, ... hands near the floor ...
CRAWL_TILT = 45.0  # degrees, ... torso leaning forward: on all fours
CRAWL_SECONDS = 2.0  # s on all fours
CRAWL_SPEED = 0.1  # m/s, mean horizontal pelvis speed
LIE_PELVIS_RATIO = 0.35  # pelvis near the floor
LIE_TILT = 60.0  # degrees of the torso from vertical
END_STAND_RATIO = 0.85  # pelvis over standing height in the last 0.5 s: back on the feet
STRETCH_SECONDS = 0.5  # s with both wrists above the shoulders
PEAK_SPEED_SECONDS = 1.0  # s, window of `BodyTrack.peak_speed`
RUN_PEAK_SPEED = 2.0  # m/s over the fastest second (fast CMU walks reach 1.8)
WALK_MIN_SPEED = 0.5  # m/s along the facing direction
WALK_MAX_SPEED = 1.8  # m/s


# ---------------------------------------------------------------------------------------------- kinematics
class BodyTrack:
    """The kinematic quantities of one canonicalised motion that the criteria read.

    Args:
        motion (`Motion`): any motion (canonicalised here).
    """

    def __init__(self, motion: Motion):
        motion = motion.to(dtype=torch.float32).canonicalize()
        self.motion = motion
        self.fps = motion.fps
        self.joints = motion.joints  # (T, 24, 3)
        rest = Motion.rest(1, fps=motion.fps, offsets=motion.offsets).joints[0]
        self.standing_pelvis_height = float(rest[PELVIS, 1] - rest[:, 1].min())

    @property
    def num_frames(self) -> int:
        return self.joints.shape[0]

    @property
    def duration(self) -> float:
        """Seconds spanned by the frames, `(T - 1) / fps` (at least one frame's worth)."""
        return max(self.num_frames - 1, 1) / self.fps

    def frames(self, seconds: float) -> int:
        """How many frames `seconds` cover (at least 2, at most the clip)."""
        return min(max(round(seconds * self.fps) + 1, 2), self.num_frames)

    @cached_property
    def heights(self) -> torch.Tensor:
        """`(T, 24)` joint heights above the floor."""
        return self.joints[..., 1]

    @cached_property
    def pelvis_ratio(self) -> torch.Tensor:
        """`(T,)` pelvis height over the standing pelvis height."""
        return self.heights[:, PELVIS] / self.standing_pelvis_height

    @cached_property
    def heading(self) -> torch.Tensor:
        """`(T,)` unwrapped heading (radians about +Y, 0 = +Z at frame 0)."""
        angle = heading_angle(self.joints)
        steps = torch.remainder(angle.diff() + math.pi, 2 * math.pi) - math.pi
        return torch.cat([angle[:1], angle[:1] + steps.cumsum(0)])

    @cached_property
    def _pelvis_steps(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Pelvis displacement per transition along the facing direction and along the left `(T - 1,)`."""
        step = self.joints[1:, PELVIS] - self.joints[:-1, PELVIS]  # (T - 1, 3)
        heading = 0.5 * (self.heading[1:] + self.heading[:-1])
        forward = step[:, 0] * torch.sin(heading) + step[:, 2] * torch.cos(heading)
        left = step[:, 0] * torch.cos(heading) - step[:, 2] * torch.sin(heading)
        return forward, left

    # -- measures (floats) --
    def ankle_peak(self, side: str) -> float:
        """Highest height of the `side` ankle above the floor, m."""
        return ankle_peak(self.joints, side)

    def wrist_raise(self, side: str) -> float:
        """Highest height of the `side` wrist over the `side` shoulder at the same frame, m (0 = level)."""
        return wrist_raise(self.joints, side)

    def wrists_above_shoulders_seconds(self) -> float:
        """Seconds with both wrists above their shoulders."""
        up = [self.heights[:, WRISTS[s]] > self.heights[:, SHOULDERS[s]] for s in ("left", "right")]
        return float((up[0] & up[1]).sum()) / self.fps

    def heading_change(self) -> float:
        """Largest turn away from the initial heading over the clip, degrees."""
        return math.degrees(float((self.heading - self.heading[0]).abs().max()))

    def forward_speed(self, start: float = 0.0, stop: float | None = None) -> float:
        """Mean pelvis speed along the (per-frame) facing direction, m/s; negative when backwards.

        Args:
            start, stop (`float`): the part of the clip, as fractions of its frames (default all).
        """
        forward, _ = self._pelvis_steps
        first, last = self._span(start, stop)
        return float(forward[first:last].sum()) * self.fps / max(last - first, 1)

    def initial_displacement(self, seconds: float = SIDESTEP_SECONDS) -> tuple[float, float]:
        """Pelvis displacement over the first `seconds`, in the initial facing frame: `(forward, left)`, m."""
        offset = self.joints[self.frames(seconds) - 1, PELVIS] - self.joints[0, PELVIS]
        return float(offset[2]), float(offset[0])

    def peak_speed(self, seconds: float = PEAK_SPEED_SECONDS) -> float:
        """Highest horizontal pelvis speed over any `seconds`-long window, m/s (the clip's mean speed
        when it is shorter)."""
        count = self.frames(seconds)
        pelvis = self.joints[:, PELVIS][:, [0, 2]]
        distance = (pelvis[count - 1 :] - pelvis[: pelvis.shape[0] - count + 1]).norm(dim=-1)
        return float(distance.max()) * self.fps / (count - 1)

    def horizontal_speed(self) -> float:
        """Mean horizontal pelvis speed (path length per second), m/s."""
        step = (self.joints[1:, PELVIS] - self.joints[:-1, PELVIS])[:, [0, 2]]
        return float(step.norm(dim=-1).mean()) * self.fps

    def horizontal_range(self) -> float:
        """Farthest horizontal distance of the pelvis from where it starts, m."""
        offset = (self.joints[:, PELVIS] - self.joints[:1, PELVIS])[:, [0, 2]]
        return float(offset.norm(dim=-1).max())

    def pelvis_rise(self) -> float:
        """Highest pelvis height over the clip's median pelvis height, m."""
        pelvis = self.heights[:, PELVIS]
        return float(pelvis.max() - pelvis.median())

    def lowest_joint_rise(self) -> float:
        """Highest height of the lowest joint (the body's clearance of the floor) over its median, m:
        how far off the ground the whole body gets (a flight phase)."""
        lowest = self.heights.amin(-1)
        return float(lowest.max() - lowest.median())

    def min_pelvis_ratio(self) -> float:
        """Lowest pelvis height over the standing pelvis height."""
        return float(self.pelvis_ratio.min())

    def start_pelvis_ratio(self) -> float:
        """Mean pelvis height of the first half second over the standing pelvis height."""
        return float(self.pelvis_ratio[: self.frames(START_SECONDS)].mean())

    def end_pelvis_ratio(self) -> float:
        """Mean pelvis height of the last half second over the standing pelvis height."""
        return float(self.pelvis_ratio[-self.frames(START_SECONDS) :].mean())

    def seconds_below(self, ratio: float) -> float:
        """Seconds with the pelvis below `ratio` x its standing height."""
        return float((self.pelvis_ratio < ratio).sum()) / self.fps

    def torso_tilt(self) -> float:
        """Largest angle of the pelvis -> neck direction from vertical, degrees (90 = lying)."""
        return float(self._tilt.max())

    def crawl_seconds(self) -> float:
        """Seconds on all fours: pelvis below `CRAWL_PELVIS_RATIO` x standing height, wrists (mean of
        the two) below `CRAWL_WRIST_HEIGHT` and the torso at least `CRAWL_TILT` from vertical."""
        wrists = self.heights[:, [WRISTS["left"], WRISTS["right"]]].mean(-1)
        low = (self.pelvis_ratio < CRAWL_PELVIS_RATIO) & (wrists < CRAWL_WRIST_HEIGHT)
        return float((low & (self._tilt > CRAWL_TILT)).sum()) / self.fps

    @cached_property
    def _tilt(self) -> torch.Tensor:
        """`(T,)` angle of the pelvis -> neck direction from vertical, degrees."""
        spine = self.joints[:, NECK] - self.joints[:, PELVIS]
        cosine = spine[:, 1] / spine.norm(dim=-1).clamp_min(1e-6)
        return torch.rad2deg(torch.arccos(cosine.clamp(-1.0, 1.0)))

    def start_speed(self) -> float:
        """Mean joint speed over the first half second, m/s (about 0 when starting from rest)."""
        count = self.frames(START_SECONDS)
        steps = self.joints[1:count] - self.joints[: count - 1]
        return float(steps.norm(dim=-1).mean()) * self.fps

    def forward_before_flight(self) -> float:
        """Pelvis distance along the facing direction before the frame where the body is highest
        off the floor, m (what a person walked before jumping)."""
        peak = int(self.heights.amin(-1).argmax())
        forward, _ = self._pelvis_steps
        return float(forward[:peak].sum())

    def flight_time_fraction(self) -> float:
        """Where in the clip the body is highest off the floor, as a fraction of its duration."""
        return int(self.heights.amin(-1).argmax()) / max(self.num_frames - 1, 1)

    def _span(self, start: float, stop: float | None) -> tuple[int, int]:
        transitions = self.num_frames - 1
        first = round(start * transitions)
        last = transitions if stop is None else round(stop * transitions)
        return first, max(last, first + 1)


# ---------------------------------------------------------------------------------------------- probes
@dataclass(frozen=True)
class Criterion:
    """One named test `measure(track) >= threshold` (or `<=`).

    Args:
        name (`str`): what is measured, with its unit (e.g. `"right_ankle_peak_m"`).
        measure (`Callable[[BodyTrack], float]`): the quantity.
        threshold (`float`): the bound.
        at_least (`bool`, defaults to True): pass when `measure >= threshold` (else `<=`).
    """

    name: str
    measure: Callable[[BodyTrack], float]
    threshold: float
    at_least: bool = True

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.at_least else value <= self.threshold

    def describe(self) -> str:
        return f"{self.name} {'>=' if self.at_least else '<='} {self.threshold:g}"


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe on one motion.

    Args:
        family (`str`): the probe's family.
        passed (`bool`): every criterion passed.
        values (`dict[str, float]`): each criterion's measured value.
        failed (`tuple[str, ...]`): the criteria that failed, as `"name >= threshold"`.
    """

    family: str
    passed: bool
    values: dict[str, float]
    failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionProbe:
    """An action family: prompts, the CMU captions of its real clips, and its check.

    Args:
        family (`str`): short name, e.g. `"kick_right_leg"`.
        prompts (`tuple[str, ...]`): prompts a new user would type for it.
        criteria (`tuple[Criterion, ...]`): all must pass.
        real_captions (`str`): regular expression (case-insensitive, full match) of the CMU
            descriptions whose trials perform this action.
        seconds (`float`, defaults to 6.0): duration generated for each prompt.
        side_measure (`Callable[[BodyTrack], float]`, *optional*): for sided families, positive when
            a clip acts on the prompt's side; a real clip with a negative value is mirrored.
    """

    family: str
    prompts: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    real_captions: str
    seconds: float = 6.0
    side_measure: Callable[[BodyTrack], float] | None = field(default=None, compare=False)

    def check(self, motion: Motion | BodyTrack) -> ProbeResult:
        """Measure every criterion on `motion` (canonicalised first)."""
        track = motion if isinstance(motion, BodyTrack) else BodyTrack(motion)
        values, failed = {}, []
        for criterion in self.criteria:
            value = criterion.measure(track)
            values[criterion.name] = value
            if not criterion.passes(value):
                failed.append(criterion.describe())
        return ProbeResult(self.family, not failed, values, tuple(failed))

    def orient_real(self, motion: Motion) -> Motion:
        """A real clip turned to the prompt's side (mirrored when `side_measure` is negative)."""
        if self.side_measure is not None and self.side_measure(BodyTrack(motion)) < 0:
            return motion.mirror()
        return motion

    def check_real(self, motion: Motion) -> ProbeResult:
        """`check` of a real clip after `orient_real`."""
        return self.check(self.orient_real(motion))


def _starts_from_rest() -> Criterion:
    return Criterion("start_speed_m_per_s", BodyTrack.start_speed, REST_START_SPEED, at_least=False)


def _starts_standing() -> Criterion:
    return Criterion("start_pelvis_ratio", BodyTrack.start_pelvis_ratio, STAND_START_RATIO)


def _kick(side: str) -> tuple[Criterion, ...]:
    other = OTHER_SIDE[side]
    return (
        Criterion(f"{side}_ankle_peak_m", lambda t: t.ankle_peak(side), KICK_ANKLE_HEIGHT),
        Criterion(f"{side}_over_{other}_ankle_m", lambda t: t.ankle_peak(side) - t.ankle_peak(other), KICK_SIDE_MARGIN),
    )


def _wave(side: str) -> tuple[Criterion, ...]:
    other = OTHER_SIDE[side]
    return (
        Criterion(f"{side}_wrist_raise_m", lambda t: t.wrist_raise(side), WAVE_RAISE),
        Criterion(
            f"{side}_over_{other}_wrist_m", lambda t: t.wrist_raise(side) - t.wrist_raise(other), WAVE_SIDE_MARGIN
        ),
    )


def _sidestep(side: str) -> tuple[Criterion, ...]:
    sign = 1.0 if side == "left" else -1.0
    return (
        Criterion(f"{side}ward_first_3s_m", lambda t: sign * t.initial_displacement()[1], SIDESTEP_DISTANCE),
        Criterion(
            "forward_first_3s_m", lambda t: abs(t.initial_displacement()[0]), SIDESTEP_MAX_FORWARD, at_least=False
        ),
        Criterion("heading_change_deg", BodyTrack.heading_change, SIDESTEP_MAX_TURN, at_least=False),
    )


def _jump() -> tuple[Criterion, ...]:
    return (
        Criterion("pelvis_rise_m", BodyTrack.pelvis_rise, JUMP_PELVIS_RISE),
        Criterion("flight_m", BodyTrack.lowest_joint_rise, JUMP_FLIGHT),
    )


def _side_difference(measure: Callable[[BodyTrack, str], float], side: str) -> Callable[[BodyTrack], float]:
    return lambda t: measure(t, side) - measure(t, OTHER_SIDE[side])


ACTION_PROBES: tuple[ActionProbe, ...] = (
    ActionProbe(
        "kick_right_leg",
        ("a person kicks with the right leg", "a person does a front kick with the right foot"),
        (*_kick("right"), _starts_from_rest()),
        r"(soccer - )?(kick( ball)?|front kick|kicking)",
        side_measure=_side_difference(BodyTrack.ankle_peak, "right"),
    ),
    ActionProbe(
        "wave_right_hand",
        ("a person waves with the right hand", "a person waves hello with the right hand"),
        _wave("right"),
        r"wave|wave hello|waving",
        side_measure=_side_difference(BodyTrack.wrist_raise, "right"),
    ),
    ActionProbe(
        "turn_around",
        ("a person turns around", "a person turns around to face the other way"),
        (Criterion("heading_change_deg", BodyTrack.heading_change, TURN_DEGREES),),
        r"walk forward, turn around, walk back|180|180 degree jump|hop turn.*180.*",
    ),
    ActionProbe(
        "walk_backwards",
        ("a person walks backwards", "a person walks backward slowly"),
        (Criterion("backward_speed_m_per_s", lambda t: -t.forward_speed(), BACKWARD_SPEED),),
        r"(normal )?walk backwards?",
    ),
    ActionProbe(
        "jump_in_place",
        ("a person jumps in place", "a person jumps up and down on the spot"),
        (
            *_jump(),
            Criterion("horizontal_range_m", BodyTrack.horizontal_range, JUMP_IN_PLACE_RANGE, at_least=False),
            _starts_from_rest(),
        ),
        r"jump",
    ),
    ActionProbe(
        "walk_then_jump",
        ("a person walks forward and then jumps", "a person walks forward, then jumps"),
        (*_jump(), Criterion("walked_before_jump_m", BodyTrack.forward_before_flight, WALK_BEFORE_JUMP)),
        r"walk jump",
    ),
    ActionProbe(
        "sit_down",
        ("a person sits down", "a person sits down on a chair"),
        (
            _starts_standing(),
            Criterion("seconds_seated_s", lambda t: t.seconds_below(SIT_RATIO), SIT_SECONDS),
        ),
        r"sit down and get up|sit in chair and get up|(medium|high) sit|sit on stepstool, stand up"
        r"|sit down and stretch",
    ),
    ActionProbe(
        "squat",
        ("a person squats", "a person squats down and stands back up"),
        (
            _starts_standing(),
            Criterion("min_pelvis_ratio", BodyTrack.min_pelvis_ratio, SQUAT_RATIO, at_least=False),
        ),
        r".*squats?\b.*",
    ),
    ActionProbe(
        "sidestep_left",
        ("a person sidesteps to the left", "a person steps sideways to the left"),
        _sidestep("left"),
        r"walk sideways?|sneak sideways|walk sideways, (cross legs|foot to foot)",
        side_measure=lambda t: t.initial_displacement()[1],
    ),
    ActionProbe(
        "sidestep_right",
        ("a person sidesteps to the right", "a person steps sideways to the right"),
        _sidestep("right"),
        r"walk sideways?|sneak sideways|walk sideways, (cross legs|foot to foot)",
        side_measure=lambda t: -t.initial_displacement()[1],
    ),
    ActionProbe(
        "crawl",
        ("a person crawls on hands and knees", "a person crawls forward"),
        (
            Criterion("on_all_fours_s", BodyTrack.crawl_seconds, CRAWL_SECONDS),
            Criterion("horizontal_speed_m_per_s", BodyTrack.horizontal_speed, CRAWL_SPEED),
        ),
        r"crawling|walk crawl",
    ),
    ActionProbe(
        "lie_down_get_up",
        ("a person lies down on the floor and gets up", "a person lies down and then stands up"),
        (
            Criterion("min_pelvis_ratio", BodyTrack.min_pelvis_ratio, LIE_PELVIS_RATIO, at_least=False),
            Criterion("torso_tilt_deg", BodyTrack.torso_tilt, LIE_TILT),
            Criterion("end_pelvis_ratio", BodyTrack.end_pelvis_ratio, END_STAND_RATIO),
        ),
        r"lay down and get up|laying down and getting up",
        seconds=10.0,
    ),
    ActionProbe(
        "stretch_arms",
        ("a person stretches the arms above the head", "a person stretches and yawns"),
        (Criterion("both_wrists_up_s", BodyTrack.wrists_above_shoulders_seconds, STRETCH_SECONDS),),
        r"stretch and yawn",
    ),
    ActionProbe(
        "run",
        ("a person runs forward", "a person jogs"),
        (Criterion("peak_speed_m_per_s", BodyTrack.peak_speed, RUN_PEAK_SPEED),),
        r"run|run/jog|running ?straight|run ?through|jog ?through",
    ),
    ActionProbe(
        "walk_forward",
        ("a person walks forward", "a person walks straight ahead"),
        (
            Criterion("forward_speed_m_per_s", BodyTrack.forward_speed, WALK_MIN_SPEED),
            Criterion("forward_speed_max_m_per_s", BodyTrack.forward_speed, WALK_MAX_SPEED, at_least=False),
        ),
        r"walk",
    ),
)
PROBES_BY_FAMILY: dict[str, ActionProbe] = {probe.family: probe for probe in ACTION_PROBES}


def get_probes(families: Sequence[str] | None = None) -> list[ActionProbe]:
    """The probes of `families` (all by default), in `ACTION_PROBES` order of the names given."""
    if families is None:
        return list(ACTION_PROBES)
    unknown = [name for name in families if name not in PROBES_BY_FAMILY]
    if unknown:
        raise InvalidInputError(f"Unknown probe family {unknown}; expected some of {list(PROBES_BY_FAMILY)}.")
    return [PROBES_BY_FAMILY[name] for name in families]


# ---------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class ProbeOutcome:
    """One checked motion: a (prompt, seed) generation or a real clip.

    Args:
        family (`str`): the probe family.
        source (`str`): the prompt (generated) or the CMU trial id (real).
        seed (`int`, *optional*): generation seed (None for real clips).
        result (`ProbeResult`): the check.
        motion (`Motion`): what was checked (oriented, for real clips).
    """

    family: str
    source: str
    seed: int | None
    result: ProbeResult
    motion: Motion = field(repr=False)


def real_probe_clips(
    probe: ActionProbe, root: str | os.PathLike[str] | None = None, max_clips: int = MAX_REAL_CLIPS
) -> list[tuple[str, Motion]]:
    """`(trial_id, motion)` of the CMU trials whose cleaned description fully matches the probe's
    `real_captions` (at most `max_clips`, in index order, each at least `MIN_CLIP_SECONDS` long)."""
    from ..data.cmu import CMUMocap, clean_description, read_cmu_index

    pattern = re.compile(probe.real_captions, re.IGNORECASE)
    index = read_cmu_index(root)
    trial_ids = [
        trial_id
        for trial_id, entry in index.items()
        if pattern.fullmatch(clean_description(entry.description)) and entry.num_frames / entry.fps >= MIN_CLIP_SECONDS
    ][:max_clips]
    if not trial_ids:
        return []
    dataset = CMUMocap(root=root, trial_ids=trial_ids)
    return [(trial.trial_id, trial.motion) for trial in dataset.load_all(show_progress=False)]


def run_real_probes(
    probes: Sequence[ActionProbe] | None = None,
    root: str | os.PathLike[str] | None = None,
    max_clips: int = MAX_REAL_CLIPS,
    show_progress: bool = False,
) -> list[ProbeOutcome]:
    """Check every family's real CMU clips (see `real_probe_clips`)."""
    outcomes = []
    for probe in tqdm(list(probes or ACTION_PROBES), desc="real probes", disable=not show_progress):
        for trial_id, motion in real_probe_clips(probe, root, max_clips):
            oriented = probe.orient_real(motion)
            outcomes.append(ProbeOutcome(probe.family, trial_id, None, probe.check(oriented), oriented))
    return outcomes


def run_model_probes(
    pipeline,
    probes: Sequence[ActionProbe] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    prompts_per_family: int | None = None,
    show_progress: bool = False,
    **pipeline_options,
) -> list[ProbeOutcome]:
    """Generate every (prompt, seed) of the probes with `pipeline` and check each motion.

    Prompts of the same duration are generated as one batch per seed (`pipeline(prompts,
    seconds=..., seed=seed)`), so a motion depends on its seed and on the batch it was drawn in.

    Args:
        pipeline (`TextToMotionPipeline`): the model under test.
        probes (sequence of `ActionProbe`, *optional*): defaults to `ACTION_PROBES`.
        seeds (sequence of `int`): generation seeds.
        prompts_per_family (`int`, *optional*): use only each family's first prompts.
        show_progress (`bool`): progress bar over batches.
        pipeline_options: passed to every pipeline call (e.g. `guidance_scale`, `start`).
    """
    probes = list(probes or ACTION_PROBES)
    if not seeds:
        raise InvalidInputError("`seeds` is empty: give at least one seed.")
    jobs: dict[float, list[tuple[ActionProbe, str]]] = {}
    for probe in probes:
        for prompt in probe.prompts[:prompts_per_family]:
            jobs.setdefault(probe.seconds, []).append((probe, prompt))
    outcomes = []
    batches = [(seconds, seed) for seconds in jobs for seed in seeds]
    for seconds, seed in tqdm(batches, desc="probe generations", disable=not show_progress):
        items = jobs[seconds]
        motions = pipeline([prompt for _, prompt in items], seconds=seconds, seed=seed, **pipeline_options).motions
        for (probe, prompt), motion in zip(items, motions, strict=True):
            outcomes.append(ProbeOutcome(probe.family, prompt, seed, probe.check(motion), motion))
    return outcomes


def pass_rates(outcomes: Sequence[ProbeOutcome]) -> dict[str, tuple[int, int]]:
    """`{family: (passed, total)}` plus `"overall"`, in first-seen family order."""
    rates: dict[str, list[int]] = {}
    for outcome in outcomes:
        counts = rates.setdefault(outcome.family, [0, 0])
        counts[0] += int(outcome.result.passed)
        counts[1] += 1
    rates["overall"] = [sum(c[0] for c in rates.values()), sum(c[1] for c in rates.values())]
    return {family: (passed, total) for family, (passed, total) in rates.items()}


def probe_table(model: Sequence[ProbeOutcome], real: Sequence[ProbeOutcome]) -> str:
    """Markdown table: per family, the model's and the real clips' pass counts and rates."""
    model_rates, real_rates = pass_rates(model), pass_rates(real)
    families = [f for f in dict.fromkeys([*model_rates, *real_rates]) if f != "overall"] + ["overall"]

    def cell(rates: dict[str, tuple[int, int]], family: str) -> str:
        if family not in rates or rates[family][1] == 0:
            return "-"
        passed, total = rates[family]
        return f"{passed}/{total} ({100.0 * passed / total:.0f}%)"

    lines = ["| family | model | real CMU |", "|---|---|---|"]
    lines += [f"| {family} | {cell(model_rates, family)} | {cell(real_rates, family)} |" for family in families]
    return "\n".join(lines)
