"""The CMU motion capture set (`cmu_mocap/`): 2,514 trials of 20 joints, retargeted onto SMPL-24.

Layout of the data directory (see its README): `cmu_joints20_mm.npz` holds one int16 array
`(T, 20, 3)` in millimetres at 12 fps per trial id (`"02_01"`), and `index.csv` lists
`trial, subject, frames, fps, action_class, description` per trial.

Each trial becomes a rigid SMPL-24 `Motion`: `retarget_cmu20_to_smpl24` places the joints CMU
lacks (spine1, spine2, collars) and measures the trial's rest offsets, then inverse kinematics
turns the positions into local rotations. Forward kinematics of the result reproduces the 20 CMU
joints to 0.87 mm on average over all trials: 0.3-0.5 mm (the int16 millimetre rounding) on
the rigid limbs and spine, 1.6-3.4 mm on hand, toe, neck and head, whose bones span several
bones of the original capture skeleton and change length in the data (measured in the README). All bones
get equal weight in the chest's fit: lowering the neck's (as 0.1) moves its error onto the
collars but raises the neck/head error more than it lowers the arms' (IK aims each bone from the
solved joint, so the arms no longer inherit the chest's tilt).

Example:
    ```python
    from kinevid.data.cmu import CMUMocap

    dataset = CMUMocap(split="train", fps=20)
    trial = dataset[0]  # CMUTrial: trial.motion (SMPL-24 Motion at 20 fps), trial.texts
    trials = dataset.load_all()  # every trial, retargeted in batches, with a progress bar
    ```
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..body.kinematics import inverse_kinematics
from ..body.skeleton import SMPL24
from ..errors import InvalidInputError, MissingDataError
from ..motion.motion import Motion
from ..motion.retarget import retarget_cmu20_to_smpl24

JOINTS_FILE = "cmu_joints20_mm.npz"
INDEX_FILE = "index.csv"
CMU_FPS = 12.0
ROOT_ENV_VAR = "KINEVID_CMU_ROOT"
SPLITS = ("train", "val", "test", "all")
_INDEX_COLUMNS = ("trial", "subject", "frames", "fps", "action_class", "description")
_BATCH_FRAMES = 20_000  # frames solved together by inverse kinematics in `load_all`


@dataclass
class CMUTrial:
    """One CMU trial on SMPL-24.

    Args:
        trial_id (`str`): CMU id, `"<subject>_<take>"`, e.g. `"02_01"`.
        subject (`str`): subject id, e.g. `"02"`.
        motion (`Motion`): the retargeted SMPL-24 motion at the dataset's fps.
        texts (`list[str]`): captions from the description and action class (empty if neither exists).
        description (`str`): CMU's raw description (`""` if none).
        action_class (`str`, *optional*): one of Walk, Run, Jump, Dance, Step, Climb, Wash,
            Animal Behavior, or `None`.
    """

    trial_id: str
    subject: str
    motion: Motion
    texts: list[str]
    description: str
    action_class: str | None


@dataclass(frozen=True)
class CMUIndexEntry:
    """One row of `index.csv`."""

    trial_id: str
    subject: str
    num_frames: int
    fps: float
    action_class: str | None
    description: str


# ---------------------------------------------------------------------------------------------- paths
def _candidate_roots() -> list[Path]:
    candidates = []
    if os.environ.get(ROOT_ENV_VAR):
        candidates.append(Path(os.environ[ROOT_ENV_VAR]))
    repo_root = Path(__file__).resolve().parents[3]
    for base in (Path.cwd(), repo_root):
        candidates.append(base.parent / "shared" / "data" / "cmu_mocap")
    return candidates


def _is_cmu_root(path: Path) -> bool:
    return (path / JOINTS_FILE).is_file() and (path / INDEX_FILE).is_file()


def find_cmu_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Directory holding `cmu_joints20_mm.npz` and `index.csv`.

    Looks at `root` if given (and only there), else `$KINEVID_CMU_ROOT`, else
    `../shared/data/cmu_mocap` relative to the working directory, then to the repository root.

    Raises:
        `MissingDataError`: no candidate holds both files; the message lists every place looked at.
    """
    candidates = [Path(root)] if root is not None else _candidate_roots()
    for candidate in candidates:
        if _is_cmu_root(candidate):
            return candidate
    looked = "\n".join(f"  - {c}" for c in dict.fromkeys(candidates))
    hint = "" if root is not None else f" Pass `root=` or set ${ROOT_ENV_VAR}."
    raise MissingDataError(
        f"CMU mocap data ({JOINTS_FILE} and {INDEX_FILE}) not found. Looked in:\n{looked}\n{hint}".rstrip()
    )


def read_cmu_index(root: str | os.PathLike[str] | None = None) -> dict[str, CMUIndexEntry]:
    """`index.csv` as `{trial_id: CMUIndexEntry}`, in file order."""
    path = find_cmu_root(root) / INDEX_FILE
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        missing = [c for c in _INDEX_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInputError(f"{path}: missing columns {missing}; expected {list(_INDEX_COLUMNS)}.")
        entries = {}
        for line, row in enumerate(reader, start=2):
            try:
                entry = CMUIndexEntry(
                    trial_id=row["trial"].strip(),
                    subject=row["subject"].strip(),
                    num_frames=int(row["frames"]),
                    fps=float(row["fps"]),
                    action_class=row["action_class"].strip() or None,
                    description=(row["description"] or "").strip(),
                )
            except (TypeError, ValueError) as error:
                raise InvalidInputError(
                    f"{path}, line {line}: `frames` must be an integer and `fps` a number ({error})."
                ) from None
            entries[entry.trial_id] = entry
    return entries


# ---------------------------------------------------------------------------------------------- splits
def split_subjects(
    subjects: Iterable[str], seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, set[str]]:
    """Deterministic split of subject ids into `train`, `val` and `test`.

    Subjects are ordered by a hash of `(seed, subject)` (stable across machines and Python
    versions) and cut into consecutive blocks; val and test get `round(n * fraction)` subjects each
    (at least one when their fraction is positive and there are enough subjects), train the rest.
    A subject is in exactly one split, so no test subject is ever seen in training.

    Returns:
        `{"train": set, "val": set, "test": set}`.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise InvalidInputError(f"`fractions` must be three non-negative numbers summing to 1, got {fractions}.")
    unique = sorted(set(subjects))
    order = sorted(unique, key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    count = len(order)
    sizes = []
    for fraction in fractions[1:]:
        size = round(count * fraction)
        if fraction > 0 and size == 0 and count >= 3:
            size = 1
        sizes.append(size)
    num_val, num_test = sizes
    num_val = min(num_val, count)
    num_test = min(num_test, count - num_val)
    return {
        "test": set(order[:num_test]),
        "val": set(order[num_test : num_test + num_val]),
        "train": set(order[num_test + num_val :]),
    }


# ---------------------------------------------------------------------------------------------- texts
_ACTION_CLASS_TEXTS = {
    "Walk": "a person walks",
    "Run": "a person runs",
    "Jump": "a person jumps",
    "Dance": "a person dances",
    "Step": "a person steps",
    "Climb": "a person climbs",
    "Wash": "a person cleans",
    "Animal Behavior": "a person imitates an animal",
}
_UNUSABLE_DESCRIPTIONS = re.compile(r"^(unknown|bad amc|.*\.amc)$", re.IGNORECASE)
_PARENTHESIS_ABOUT_SUBJECTS = re.compile(r"\s*\([^()]*subject[^()]*\)", re.IGNORECASE)
_CAPTURE_NOTE = re.compile(r"\s*\bcleaned\s*grs\b", re.IGNORECASE)
_CAMEL_CASE_WORD = re.compile(r"\b[A-Za-z0-9]*[a-z][A-Z][A-Za-z0-9]*\b|\b\d+[A-Z][A-Za-z0-9]*\b")
_WORD_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_MAX_CONTEXT_WORDS = 3  # "playground - ...", "basketball - ...": a short scene/activity label


def _split_camel_case(match: re.Match[str]) -> str:
    return " ".join(part.lower() for part in _WORD_BOUNDARY.split(match.group(0)))


def clean_description(description: str) -> str:
    """CMU's description as plain text: `""` for empty or unusable ones ("Unknown", "bad AMC",
    file names); capture notes ("CleanedGRS") and notes on the recording's subjects
    ("(2 subjects - subject A)", "(human subject)") dropped; CamelCase names split into words
    ("WalkEvasiveLeft" -> "walk evasive left")."""
    text = " ".join(description.split())
    if not text or _UNUSABLE_DESCRIPTIONS.match(text):
        return ""
    text = _PARENTHESIS_ABOUT_SUBJECTS.sub("", text)
    text = _CAPTURE_NOTE.sub("", text)
    text = _CAMEL_CASE_WORD.sub(_split_camel_case, text)
    return " ".join(text.split()).strip(" ,;-")


def _drop_context(segment: str) -> str:
    """`"playground - forward jumps, turn around"` -> `"forward jumps, turn around"`: a short label
    before `" - "` names the scene or activity, the rest says what the body does."""
    context, separator, actions = segment.partition(" - ")
    if separator and actions.strip() and len(context.split()) <= _MAX_CONTEXT_WORDS:
        return actions.strip()
    return segment.strip()


def cmu_texts(description: str, action_class: str | None) -> list[str]:
    """Captions of one trial, most specific first, without duplicates.

    1. The cleaned description without its scene/activity prefixes (per `;`-separated part):
       "playground - forward jumps, turn around" -> "forward jumps, turn around". The comma-
       separated actions are kept together: each alone would describe only part of the trial.
    2. The cleaned description with its prefixes, when they were dropped in 1.
    3. A sentence for the action class: "Jump" -> "a person jumps"; for Animal Behavior with a
       short description naming the animal, "a person moves like a monkey".

    Returns an empty list when the description is empty or unusable and there is no class.
    """
    texts = []
    cleaned = clean_description(description)
    if cleaned:
        segments = [s.strip() for s in cleaned.split(";") if s.strip()]
        texts.append("; ".join(_drop_context(s) for s in segments))
        texts.append(cleaned)
    if action_class == "Animal Behavior" and cleaned and len(cleaned.split()) <= 3:
        article = "an" if cleaned[0].lower() in "aeiou" else "a"
        texts.append(f"a person moves like {article} {cleaned.lower()}")
    elif action_class:
        texts.append(_ACTION_CLASS_TEXTS.get(action_class, f"a person: {action_class.lower()}"))
    return list(dict.fromkeys(t for t in texts if t))


# ---------------------------------------------------------------------------------------------- motions
def _read_joints(archive: np.lib.npyio.NpzFile, trial_id: str, path: Path) -> torch.Tensor:
    """One trial's joints `(T, 20, 3)` in metres (float32)."""
    if trial_id not in archive.files:
        raise InvalidInputError(f"{path}: no array for trial {trial_id!r} (the index lists it).")
    array = archive[trial_id]
    if array.ndim != 3 or array.shape[1:] != (20, 3) or array.shape[0] < 1:
        raise InvalidInputError(f"{path}: trial {trial_id!r} must have shape (T, 20, 3), got {array.shape}.")
    return torch.from_numpy(array.astype(np.float32)) / 1000.0


def cmu_joints_to_motions(joints: Sequence[torch.Tensor], fps: float = CMU_FPS) -> list[Motion]:
    """Retarget CMU 20-joint trials onto SMPL-24 and solve their rotations.

    Each trial keeps its own rest offsets; inverse kinematics runs on all frames of all given
    trials at once (per-frame offsets), which is much faster than one call per trial.

    Args:
        joints (sequence of `torch.Tensor` of shape `(T_i, 20, 3)`): CMU joints in metres.
        fps (`float`): frame rate of the joints.

    Returns:
        One SMPL-24 `Motion` per trial.
    """
    if not joints:
        return []
    retargeted = [retarget_cmu20_to_smpl24(j) for j in joints]
    lengths = [positions.shape[0] for positions, _ in retargeted]
    positions = torch.cat([p for p, _ in retargeted])
    offsets = torch.cat([o.expand(n, 24, 3) for (_, o), n in zip(retargeted, lengths, strict=True)])
    rotations, translation = inverse_kinematics(positions, offsets, SMPL24)
    return [
        Motion(rotations=r, translation=t, fps=fps, offsets=o)
        for r, t, (_, o) in zip(rotations.split(lengths), translation.split(lengths), retargeted, strict=True)
    ]


class CMUMocap(torch.utils.data.Dataset):
    """The CMU mocap trials as SMPL-24 motions with captions.

    Items are retargeted on access (a few milliseconds each); `load_all` does every selected
    trial in batches, with a progress bar.

    Args:
        root (`str` or `Path`, *optional*): data directory; see `find_cmu_root`.
        split (`str`, defaults to `"all"`): `"train"`, `"val"`, `"test"` (by subject, see
            `split_subjects` with seed 0) or `"all"`.
        fps (`float`, *optional*): resample to this frame rate (default: the native 12 fps).
        min_frames (`int`, defaults to 1): drop trials shorter than this at the output fps.
        trial_ids (sequence of `str`, *optional*): only these trials (in this order); each must be
            in the index and in `split`.
        canonicalize (`bool`, defaults to `True`): floor at y = 0, start at the origin facing +Z.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: str = "all",
        fps: float | None = None,
        min_frames: int = 1,
        trial_ids: Sequence[str] | None = None,
        canonicalize: bool = True,
    ) -> None:
        if split not in SPLITS:
            raise InvalidInputError(f"`split` must be one of {list(SPLITS)}, got {split!r}.")
        if fps is not None and not (fps > 0 and np.isfinite(fps)):
            raise InvalidInputError(f"`fps` must be a positive number, got {fps}.")
        self.root = find_cmu_root(root)
        self.split = split
        self.fps = float(fps) if fps is not None else CMU_FPS
        self.canonicalize = canonicalize
        self.index = read_cmu_index(self.root)
        if split == "all":
            allowed = set(self.index)
        else:
            subjects = split_subjects(e.subject for e in self.index.values())[split]
            allowed = {t for t, e in self.index.items() if e.subject in subjects}
        if trial_ids is None:
            selected = [t for t in self.index if t in allowed]
        else:
            selected = list(trial_ids)
            unknown = [t for t in selected if t not in self.index]
            if unknown:
                raise InvalidInputError(
                    f"Unknown CMU trial id(s) {unknown} in {self.root / INDEX_FILE}; ids look like "
                    f"'02_01' (e.g. {list(self.index)[:3]})."
                )
            outside = [t for t in selected if t not in allowed]
            if outside:
                raise InvalidInputError(f"CMU trial id(s) {outside} are not in the {split!r} split.")
        self.trial_ids: list[str] = [t for t in selected if self._output_frames(t) >= min_frames]
        self._archive: np.lib.npyio.NpzFile | None = None
        self._archive_pid: int | None = None

    def _joints_archive(self) -> np.lib.npyio.NpzFile:
        """The opened `.npz`, one per process (a DataLoader worker must not share the parent's handle)."""
        if self._archive is None or self._archive_pid != os.getpid():
            self._archive = np.load(self.root / JOINTS_FILE, allow_pickle=False)
            self._archive_pid = os.getpid()
        return self._archive

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_archive"] = state["_archive_pid"] = None
        return state

    def _output_frames(self, trial_id: str) -> int:
        """Frame count of a trial after resampling (as `Motion.resample` computes it)."""
        entry = self.index[trial_id]
        return int(np.floor((entry.num_frames - 1) * self.fps / entry.fps + 1e-9)) + 1

    def __len__(self) -> int:
        return len(self.trial_ids)

    def __getitem__(self, item: int) -> CMUTrial:
        trial_id = self.trial_ids[item]
        joints = _read_joints(self._joints_archive(), trial_id, self.root / JOINTS_FILE)
        (motion,) = cmu_joints_to_motions([joints], fps=self.index[trial_id].fps)
        return self._make_trial(trial_id, motion)

    def __iter__(self) -> Iterator[CMUTrial]:
        for item in range(len(self)):
            yield self[item]

    def load_all(self, show_progress: bool = True) -> list[CMUTrial]:
        """Every selected trial, retargeted in batches of about 20k frames.

        Args:
            show_progress (`bool`, defaults to `True`): show a progress bar (trials).
        """
        path, archive = self.root / JOINTS_FILE, self._joints_archive()
        trials = []
        with tqdm(total=len(self), desc="CMU trials", unit="trial", disable=not show_progress) as progress:
            for batch in self._batches():
                joints = [_read_joints(archive, t, path) for t in batch]
                motions = cmu_joints_to_motions(joints, fps=self.index[batch[0]].fps)  # one fps per batch
                trials.extend(self._make_trial(t, m) for t, m in zip(batch, motions, strict=True))
                progress.update(len(batch))
        return trials

    def _batches(self) -> Iterator[list[str]]:
        batch, frames = [], 0
        for trial_id in self.trial_ids:
            entry = self.index[trial_id]
            if batch and (frames + entry.num_frames > _BATCH_FRAMES or entry.fps != self.index[batch[0]].fps):
                yield batch
                batch, frames = [], 0
            batch.append(trial_id)
            frames += entry.num_frames
        if batch:
            yield batch

    def _make_trial(self, trial_id: str, motion: Motion) -> CMUTrial:
        entry = self.index[trial_id]
        if self.fps != motion.fps:
            motion = motion.resample(self.fps)
        if self.canonicalize:
            motion = motion.canonicalize()
        return CMUTrial(
            trial_id=trial_id,
            subject=entry.subject,
            motion=motion,
            texts=cmu_texts(entry.description, entry.action_class),
            description=entry.description,
            action_class=entry.action_class,
        )
