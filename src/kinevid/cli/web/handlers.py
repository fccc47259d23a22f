"""One request of the web demo, from its inputs to a result directory (no Gradio here).

Each handler checks its inputs, runs the pipeline through the same functions as `kinevid generate`,
`animate`, `capture` and `motion`, and writes a new directory under `root`:

    video.mp4, skeleton.mp4, grid.mp4, motion.npz, motion.bvh   (`write_output_dir`, as the commands)
    mannequin.mp4, feet.png                                      (the mannequin of the motion, the foot plot)

The text -> motion handler writes no `video.mp4` / `grid.mp4` (there is no generated video). Errors are
`kinevid.errors` errors with one-line messages, which the page shows as they are.
"""

from __future__ import annotations

import io
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from ...errors import InvalidInputError, KinevidError
from ...motion import Motion
from ...utils import atomic_write_group, torch_threads
from ..commands.generate import (
    GeneratedClip,
    animate_clip,
    capture_clip,
    check_appearance_prompt,
    check_prompt,
    clip_views,
    frames_for_seconds,
    generate_clip,
    load_motion_file,
    pose_following_score,
    sampler_options,
    write_output_dir,
)
from ..commands.info import motion_summary_table
from ..commands.motion import RENDER_SIZE
from .models import ModelCache
from .plots import plot_feet

MAX_MOTION_BYTES = 20 * 2**20
MAX_VIDEO_BYTES = 100 * 2**20
VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".mov", ".avi", ".mkv")


@dataclass
class WebResult:
    """The files and numbers of one request (paths inside `out_dir`; `video` is `None` for text -> motion)."""

    out_dir: Path
    video: Path | None
    skeleton: Path
    mannequin: Path
    plot: Path
    downloads: list[Path] = field(default_factory=list)
    summary: str = ""


# ---------------------------------------------------------------------- inputs
def check_upload(path: str | Path | None, what: str, max_bytes: int) -> Path:
    """An uploaded file that exists and is at most `max_bytes`; `what` names it in errors ("motion file")."""
    if path is None or not str(path).strip():
        raise InvalidInputError(f"no {what} uploaded; choose a file first.")
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path.name}: the uploaded {what} is missing on the server; upload it again.")
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidInputError(
            f"{path.name}: the {what} is {size / 2**20:.1f} MB; at most {max_bytes / 2**20:.0f} MB is accepted."
        )
    if size == 0:
        raise InvalidInputError(f"{path.name}: the {what} is empty.")
    return path


def model_default(value: float | None) -> float | None:
    """A blank or 0 field of the page means "the pipeline's own" (Gradio's number fields send 0 for blank)."""
    return None if value is None or value == 0 else value


@contextmanager
def named_as_uploaded(path: Path) -> Iterator[None]:
    """Errors about an uploaded file name it as the user did (its name), not by the server's upload path."""
    try:
        yield
    except KinevidError as error:
        if str(path) not in str(error):
            raise
        raise type(error)(str(error).replace(str(path), path.name)) from None


def sampling(steps: float | None, guidance: float | None) -> dict:
    """The sampling options given in the page (blank / 0: the pipeline's own), checked as the CLI's flags."""
    steps = model_default(steps)
    options = SimpleNamespace(threads=1, steps=None if steps is None else int(steps), guidance=model_default(guidance))
    return sampler_options(options)


def optional_seconds(seconds: float | None) -> float | None:
    """A blank / 0 duration is the pipeline's own; a given one must be positive."""
    seconds = model_default(seconds)
    if seconds is None:
        return None
    frames_for_seconds(float(seconds), 16.0)  # raises for negative, NaN, infinite
    return float(seconds)


# ---------------------------------------------------------------------- results
def summary_text(motion: Motion, title: str, score: dict[str, float] | str | None) -> str:
    """The physical metrics table of `kinevid info` as plain text, then the pose-following score."""
    console = Console(file=io.StringIO(), record=True, width=72, color_system=None)
    console.print(motion_summary_table(motion, title=title))
    text = console.export_text()
    if score is None:
        return text + "pose following: n/a (no generated video)\n"
    if isinstance(score, str):
        return text + f"pose following (MediaPipe): {score}\n"
    values = ", ".join(
        f"{name} {'n/a' if math.isnan(score[name]) else f'{score[name]:.3f}'}" for name in ("pck", "detection_rate")
    )
    return text + f"pose following (MediaPipe judge vs. the projected motion): {values}\n"


def new_result_dir(root: Path, kind: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{kind}-{uuid.uuid4().hex[:12]}"


def write_clip_result(root: Path, kind: str, clip: GeneratedClip, title: str, score) -> WebResult:
    """`write_output_dir`'s files plus `mannequin.mp4` and `feet.png` for `clip`."""
    from ...render import write_video

    out_dir = new_result_dir(root, kind)
    views = clip_views(clip)
    write_output_dir(out_dir, clip, views)
    mannequin = write_video(views[1], out_dir / "mannequin.mp4", fps=clip.motion.fps)
    plot = plot_feet(clip.motion, out_dir / "feet.png")
    return WebResult(
        out_dir=out_dir,
        video=out_dir / "video.mp4",
        skeleton=out_dir / "skeleton.mp4",
        mannequin=mannequin,
        plot=plot,
        downloads=[out_dir / name for name in ("video.mp4", "motion.npz", "motion.bvh", "grid.mp4")],
        summary=summary_text(clip.motion, title, score),
    )


# ---------------------------------------------------------------------- handlers
def text_to_video(
    cache: ModelCache,
    root: Path,
    method: str,
    prompt: str,
    seed: int = 0,
    seconds: float | None = None,
    guidance: float | None = None,
    steps: float | None = None,
) -> WebResult:
    """`kinevid generate` for the page."""
    check_prompt(prompt)
    seconds = optional_seconds(seconds)
    options = sampling(steps, guidance)
    with torch_threads(1):
        pipeline = cache.video_pipeline(method)
        clip = generate_clip(pipeline, method, prompt, int(seed), None, seconds, cache.model_path(method), **options)
        return write_clip_result(root, "generate", clip, "generated motion (SMPL-24)", pose_following_score(clip))


def motion_to_video(
    cache: ModelCache,
    root: Path,
    method: str,
    motion_file: str | Path | None,
    prompt: str,
    seed: int = 0,
    seconds: float | None = None,
    guidance: float | None = None,
    steps: float | None = None,
) -> WebResult:
    """`kinevid animate` for the page: an uploaded `.npz` / `.bvh` motion played by the prompt's person."""
    path = check_upload(motion_file, "motion file", MAX_MOTION_BYTES)
    check_appearance_prompt(prompt)
    seconds = optional_seconds(seconds)
    options = sampling(steps, guidance)
    with named_as_uploaded(path):
        motion = load_motion_file(path)
    with torch_threads(1):
        pipeline = cache.video_pipeline(method)
        clip = animate_clip(pipeline, method, prompt, motion, int(seed), None, seconds, path.name, **options)
        return write_clip_result(root, "animate", clip, "driving motion (SMPL-24)", pose_following_score(clip))


def video_to_motion(
    cache: ModelCache,
    root: Path,
    video_file: str | Path | None,
    seed: int = 0,
    seconds: float | None = None,
    steps: float | None = None,
) -> WebResult:
    """`kinevid capture` for the page: the motion of the person in an uploaded video (EchoMotion v2m)."""
    from ...render import read_video
    from ...render.video import video_frame_rate

    path = check_upload(video_file, "video", MAX_VIDEO_BYTES)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InvalidInputError(f"{path.name}: expected a video file ending in one of {VIDEO_SUFFIXES}.")
    seconds = optional_seconds(seconds)
    options = sampling(steps, None)
    with named_as_uploaded(path):
        source, source_fps = read_video(path), video_frame_rate(path)
    with torch_threads(1):
        pipeline = cache.video_pipeline("echomotion")
        clip = capture_clip(pipeline, source, source_fps, int(seed), None, seconds, path.name, **options)
        return write_clip_result(root, "capture", clip, f"captured motion of {path.name} (SMPL-24)", None)


def text_to_motion(cache: ModelCache, root: Path, prompt: str, seed: int = 0, seconds: float = 4.0) -> WebResult:
    """`kinevid motion` / `kinevid demo` for the page: the structure model's motion, its mannequin and skeleton."""
    from ...render import render_motion_views, write_video

    if not prompt or not prompt.strip():
        raise InvalidInputError("the prompt is empty; describe what the person does, e.g. 'a person walks forward'.")
    seconds = optional_seconds(seconds) or 4.0
    with torch_threads(1):
        pipeline = cache.motion_pipeline()
        motion = pipeline(prompt, seconds=seconds, seed=int(seed), show_progress=True).motions[0]
        mannequin = render_motion_views(motion, style="mannequin", size=RENDER_SIZE)
        skeleton = render_motion_views(motion, style="skeleton", size=RENDER_SIZE, show_progress=False)
    out_dir = new_result_dir(root, "motion")
    paths = [out_dir / name for name in ("motion.npz", "motion.bvh", "mannequin.mp4", "skeleton.mp4")]
    with atomic_write_group(paths) as (npz_tmp, bvh_tmp, mannequin_tmp, skeleton_tmp):
        motion.save(npz_tmp)
        motion.save(bvh_tmp)
        write_video(mannequin, mannequin_tmp, fps=motion.fps)
        write_video(skeleton, skeleton_tmp, fps=motion.fps)
    return WebResult(
        out_dir=out_dir,
        video=None,
        skeleton=paths[3],
        mannequin=paths[2],
        plot=plot_feet(motion, out_dir / "feet.png"),
        downloads=paths[:3],
        summary=summary_text(motion, "generated motion (SMPL-24)", None),
    )
