"""`kinevid generate` / `animate` / `capture`: text -> video + motion, motion -> video, video -> motion.

    kinevid generate                                   # the default prompt, shipped MoSA-tiny -> outputs/generate
    kinevid generate "a man in a green shirt jumps, on a grey floor in front of a white wall" -o jump/ --seed 1
    kinevid generate "a woman dances on a beach at sunset" -o dance/ --model runs/mosa/pipeline --seed 0
    kinevid animate walk.npz -o walk/ --prompt "a man in a suit walks" --method echomotion --model DIR
    kinevid capture clip.mp4 -o clip.npz --model runs/echomotion/pipeline

`generate` and `animate` write `video.mp4` (the generated video), `motion.npz` and `motion.bvh` (the
person's motion at the video's fps), `skeleton.mp4` (the motion's COCO-18 skeleton maps as seen by the
camera) and `grid.mp4` (video | skeleton | mannequin, each tile the video's size) into the OUT directory,
which appears complete or not at all (the files are written into a temporary directory beside it, then
renamed). They print the motion's physical metrics and, when MediaPipe is installed, how well the
video follows the motion (PCK of MediaPipe's pose against the motion's joints projected by the camera).

`--model` is a pipeline directory: what `kinevid train mosa` or `kinevid train echomotion-stage2`
writes to `<output>/pipeline`. Without `--model` the commands use the shipped `kinevid/assets/<method>_tiny`
(MoSA-tiny ships; EchoMotion-tiny does not yet, which the error says). Size, length, steps and guidance
default to what the pipeline records (the shipped one: 128x128, 17 frames at 8 fps, 20 steps).

`generate` needs a prompt that describes what the person does: a prompt in which the motion-prompt
extractor (`kinevid.text.extract_motion_prompt`) finds no body motion (it would become "a person stands
still") is rejected unless it asks for standing still itself. `animate` takes the action from the motion
file, so its `--prompt` (who and where) only has to be non-empty. The motion is resampled to the
pipeline's fps and cut to the longest `4k + 1` frames it covers (or `--seconds`).

`capture` reads the video, resamples it to the pipeline's fps (`4k + 1` frames), resizes it to `--size`
(default: its own size rounded down to multiples of 16), and writes the motion plus a render (video |
mannequin of the captured motion, seen by a camera sampled from `--seed`; EchoMotion estimates no camera).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from ...errors import InvalidInputError, KinevidError, MissingWeightsError
from ...motion import Motion
from ...utils import check_output_path, torch_threads
from .info import motion_summary_table

METHODS = ("mosa", "echomotion")
TRAIN_COMMANDS = {"mosa": "kinevid train mosa", "echomotion": "kinevid train echomotion-stage2"}
PIPELINE_CLASSES = {"mosa": "MoSAPipeline", "echomotion": "EchoMotionPipeline"}
OUTPUT_FILES = ("video.mp4", "motion.npz", "motion.bvh", "skeleton.mp4", "grid.mp4")
STANDING_WORDS = frozenset({"stand", "stands", "standing", "still", "motionless"})
DEFAULT_SIZE = (480, 832)
DEFAULT_PROMPT = "a person in a red shirt and blue trousers walks forward, on a grey floor in front of a white wall"
DEFAULT_OUTPUT = Path("outputs/generate")


# ---------------------------------------------------------------------- arguments
def parse_size(text: str) -> tuple[int, int]:
    """`"HxW"` -> `(H, W)`, both positive multiples of 16 (the VAE's 8x downsampling times the DiT's 2x2 patches)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if match is None:
        raise InvalidInputError(f"--size {text!r}: expected HxW, e.g. 480x832.")
    height, width = int(match[1]), int(match[2])
    if height < 16 or width < 16 or height % 16 or width % 16:
        raise InvalidInputError(f"--size {text}: height and width must be positive multiples of 16.")
    return height, width


def frames_for_seconds(seconds: float, fps: float, interval: int = 4) -> int:
    """The `n k + 1` frame count (k >= 1, n = `interval`) closest to `seconds` at `fps` (`seconds * fps`
    frames = n k intervals)."""
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InvalidInputError(f"--seconds must be a positive number, got {seconds}.")
    return interval * max(1, round(seconds * fps / interval)) + 1


def frame_interval(pipeline) -> int:
    """The pipeline's frame counts are `interval * k + 1` (4 unless it says otherwise, e.g. CogVideoX's 8)."""
    return int(getattr(pipeline, "frame_interval", 4))


def check_prompt(prompt: str) -> str:
    """The motion prompt of `prompt`; an empty prompt or one without any human action is an error."""
    from ...text import extract_motion_prompt
    from ...text.motion_prompt.rules import NO_MOTION_PROMPT, tokenize

    if not prompt or not prompt.strip():
        raise InvalidInputError("the prompt is empty; describe what the person does, e.g. 'a person walks forward'.")
    motion_prompt = extract_motion_prompt(prompt)
    if motion_prompt == NO_MOTION_PROMPT and not STANDING_WORDS & set(tokenize(prompt)):
        raise InvalidInputError(
            f"the prompt {prompt!r} describes no human action (no body motion found); say what the person "
            "does, e.g. 'a woman dances on a beach'."
        )
    return motion_prompt


def check_output_dir(path: Path, replace_results: bool = False) -> Path:
    """OUT must be a new (or empty) directory whose parent can be written; with `replace_results`, a
    directory holding only an earlier run's `OUTPUT_FILES` is allowed too (the default OUT is reused)."""
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"-o {path}: is a file; expected a directory for the results.")
    earlier_results = replace_results and path.is_dir() and {p.name for p in path.iterdir()} <= set(OUTPUT_FILES)
    if path.is_dir() and any(path.iterdir()) and not earlier_results:
        raise InvalidInputError(f"-o {path}: the directory is not empty; choose a new one (results are never mixed).")
    check_output_path(path / OUTPUT_FILES[0], "-o")
    return path


# ---------------------------------------------------------------------- pipelines
def default_model_dir(method: str) -> Path:
    """Where a shipped `method` pipeline would live: `kinevid/assets/<method>_tiny`."""
    return Path(__file__).resolve().parents[2] / "assets" / f"{method}_tiny"


def load_pipeline(
    method: str, model: Path | None, mosa_weights: Path | None = None, torch_dtype: torch.dtype = torch.float32
):
    """The `method` pipeline in `model` (or the shipped default), on the CPU, in eval mode.

    `model` is a kinevid pipeline directory, or (MoSA) a diffusers Wan2.1 T2V directory such as
    Wan2.1-T2V-1.3B-Diffusers with trained MoSA weights `mosa_weights` on its transformer
    (`MoSAPipeline.from_wan_pretrained`), or likewise a diffusers CogVideoX directory such as
    THUDM/CogVideoX-2b (`MoSACogVideoXPipeline.from_cogvideox_pretrained`).

    Raises:
        `MissingWeightsError`: no directory, or not a `method` pipeline directory.
    """
    from ...pipelines import EchoMotionPipeline, MoSACogVideoXPipeline, MoSAPipeline

    train = TRAIN_COMMANDS[method]
    if model is None:
        model = default_model_dir(method)
        if not model.is_dir():
            raise MissingWeightsError(
                f"no trained {method} video model ships with kinevid yet; pass --model DIR with a pipeline "
                f"directory written by `{train}` (<output>/pipeline)."
            )
    index_path = model / "model_index.json"
    if not index_path.is_file():
        raise MissingWeightsError(
            f"--model {model}: not a pipeline directory (no model_index.json); expected the <output>/pipeline "
            f"directory written by `{train}`."
        )
    try:
        class_name = json.loads(index_path.read_text()).get("_class_name")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        raise MissingWeightsError(f"--model {model}: model_index.json is not a JSON object ({error}).") from None
    if class_name in ("WanPipeline", "CogVideoXPipeline"):
        backbone = "Wan2.1" if class_name == "WanPipeline" else "CogVideoX"
        if method != "mosa" or mosa_weights is None:
            raise MissingWeightsError(
                f"--model {model}: a {backbone} pipeline directory runs with --method mosa and --mosa-weights DIR "
                f"(HADC weights written by `MoSA{backbone.removesuffix('2.1')}Transformer3DModel.save_mosa_weights`)."
            )
        if class_name == "CogVideoXPipeline":
            return MoSACogVideoXPipeline.from_cogvideox_pretrained(model, mosa_weights, torch_dtype=torch_dtype)
        return MoSAPipeline.from_wan_pretrained(model, mosa_weights, torch_dtype=torch_dtype)
    if mosa_weights is not None:
        raise InvalidInputError(
            f"--mosa-weights goes with a Wan2.1 directory (or a CogVideoX one) as --model; {model} holds {class_name}."
        )
    if class_name == "MoSACogVideoXPipeline" and method == "mosa":
        return MoSACogVideoXPipeline.from_pretrained(model, torch_dtype=torch_dtype)
    if class_name != PIPELINE_CLASSES[method]:
        other = next((name for name, cls in PIPELINE_CLASSES.items() if cls == class_name), None)
        hint = f" (use --method {other})" if other else ""
        raise MissingWeightsError(
            f"--model {model}: holds a {class_name} but --method {method} needs a {PIPELINE_CLASSES[method]}{hint}."
        )
    if method == "mosa":
        return MoSAPipeline.from_pretrained(model, torch_dtype=torch_dtype)
    try:
        pipeline = EchoMotionPipeline.from_pretrained(model, torch_dtype=torch_dtype)
    except KinevidError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as error:
        raise MissingWeightsError(f"--model {model}: cannot load the EchoMotion pipeline: {error}") from None
    return pipeline


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Runtime:
    """Where and how a pipeline runs (`--device`, `--dtype`, `--cpu-offload`, `--vae-tiling`)."""

    device: str = "cpu"
    dtype: str = "float32"
    cpu_offload: bool = False
    vae_tiling: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Runtime:
        """The runtime flags, checked before any model loads."""
        runtime = cls(args.device, args.dtype, args.cpu_offload, args.vae_tiling)
        if runtime.device.startswith("cuda") and not torch.cuda.is_available():
            raise InvalidInputError(f"--device {runtime.device}: no CUDA device is available here; use --device cpu.")
        if runtime.cpu_offload and not runtime.device.startswith("cuda"):
            raise InvalidInputError("--cpu-offload moves models between the CPU and a GPU: it needs --device cuda.")
        if runtime.dtype == "float16" and runtime.device == "cpu":
            raise InvalidInputError("--dtype float16 is for GPUs; on the CPU use float32 or bfloat16.")
        return runtime

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def place(self, pipeline):
        """`pipeline` on the device (or with model CPU offload), its VAE tiled when asked."""
        if self.vae_tiling:
            pipeline.vae.enable_tiling()
        if self.cpu_offload:
            pipeline.enable_model_cpu_offload(device=self.device)
        elif self.device != "cpu":
            pipeline.to(self.device)
        return pipeline


def pipeline_size(pipeline) -> tuple[int, int]:
    """The video size a pipeline records (the size it was trained at), else Wan2.1's 480x832."""
    config = pipeline.config
    return int(config.get("height", DEFAULT_SIZE[0])), int(config.get("width", DEFAULT_SIZE[1]))


def pipeline_frames(pipeline, seconds: float | None) -> int:
    """`4k + 1` frames (`frame_interval`) for `seconds` at the pipeline's fps; without `seconds`, the clip
    length the pipeline records (else 5 seconds)."""
    fps = float(pipeline.config.fps)
    if seconds is None and pipeline.config.get("num_frames") is not None:
        return int(pipeline.config["num_frames"])
    return frames_for_seconds(5.0 if seconds is None else seconds, fps, frame_interval(pipeline))


def sampler_options(args: argparse.Namespace) -> dict:
    """The sampling flags that were given (the pipeline's own defaults otherwise)."""
    options = {}
    if args.threads < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {args.threads}.")
    if args.steps is not None:
        if args.steps < 1:
            raise InvalidInputError(f"--steps must be >= 1, got {args.steps}.")
        options["num_inference_steps"] = args.steps
    if args.guidance is not None:
        options["guidance_scale"] = args.guidance
    return options


# ---------------------------------------------------------------------- results
@dataclass
class GeneratedClip:
    """A video and the motion of the person in it, with the camera that relates them.

    Args:
        frames (`np.ndarray` of shape `(T, H, W, 3)`): uint8 RGB video.
        motion (`Motion`): `T` frames at the video's fps.
        camera (`Camera`): the view of `motion` matching the video (image size H x W).
    """

    frames: np.ndarray
    motion: Motion
    camera: object


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """`(T, H, W, 3)` floats in [0, 1] (a pipeline's "np" output) -> uint8."""
    return (np.clip(np.asarray(frames, np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)


def clip_views(clip: GeneratedClip) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(skeleton, mannequin, grid)` videos of `clip`; the grid is video | skeleton | mannequin without gaps."""
    from ...render import make_grid, render_mannequin, render_skeleton_maps

    joints = clip.motion.joints.detach().cpu().float()
    skeleton = render_skeleton_maps(joints, clip.camera)[0]
    mannequin = render_mannequin(
        clip.motion.to(dtype=torch.float32), clip.camera, num_track_points=1, show_progress=True
    ).rgb
    grid = make_grid([clip.frames, skeleton, mannequin], gap=0)
    return skeleton, mannequin, grid


def pose_following_score(clip: GeneratedClip) -> dict[str, float] | str:
    """MediaPipe's pose-following scores of the video against the projected motion, or why there are none."""
    from ...body import smpl24_to_coco18
    from ...eval.video.pose_judge import MediaPipePoseJudge, is_mediapipe_available, pose_following

    if not is_mediapipe_available():
        return "skipped: MediaPipe is not installed (pip install kinevid[judge])"
    keypoints, _ = clip.camera.project(smpl24_to_coco18(clip.motion.joints.detach().cpu()).to(torch.float64))
    estimate = MediaPipePoseJudge().estimate(clip.frames)
    return pose_following(estimate, keypoints.numpy())


def write_output_dir(out_dir: Path, clip: GeneratedClip, views: tuple[np.ndarray, ...] | None = None) -> None:
    """Write `OUTPUT_FILES` into a temporary directory beside `out_dir`, then rename it onto `out_dir`;
    `views` are `clip_views(clip)` when the caller has them already."""
    from ...render import write_video

    skeleton, _, grid = views if views is not None else clip_views(clip)
    fps = clip.motion.fps
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        write_video(clip.frames, staging / "video.mp4", fps=fps)
        clip.motion.save(staging / "motion.npz")
        clip.motion.save(staging / "motion.bvh")
        write_video(skeleton, staging / "skeleton.mp4", fps=fps)
        write_video(grid, staging / "grid.mp4", fps=fps)
        os.chmod(staging, 0o777 & ~_umask())
        earlier = None
        if out_dir.is_dir():  # empty, or an earlier run's results (checked before the work): replace it
            earlier = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.old")
            out_dir.rename(earlier)
        staging.rename(out_dir)
        if earlier is not None:
            shutil.rmtree(earlier, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def print_summary(console: Console, title: str, clip: GeneratedClip, out_dir: Path, score) -> None:
    height, width = clip.frames.shape[1:3]
    console.print(f"wrote {', '.join(str(out_dir / name) for name in OUTPUT_FILES)}")
    console.print(f"video: {len(clip.frames)} frames, {width}x{height}, {clip.motion.fps:g} fps")
    console.print(motion_summary_table(clip.motion, title=title))
    if isinstance(score, str):
        console.print(f"pose following (MediaPipe): {score}")
        return
    table = Table(title="pose following (MediaPipe judge vs. the projected motion)", header_style="bold")
    table.add_column("score")
    table.add_column("value", justify="right")
    for name in ("pck", "detection_rate"):
        table.add_row(name, "n/a" if math.isnan(score[name]) else f"{score[name]:.3f}")
    console.print(table)


# ---------------------------------------------------------------------- generate
def generate_clip(
    pipeline,
    method: str,
    prompt: str,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    seconds: float | None = None,
    model: Path | None = None,
    **options,
) -> GeneratedClip:
    """Text -> video + motion with a loaded `method` pipeline (what `kinevid generate` and `kinevid serve` run).

    Args:
        size (`tuple[int, int]`, *optional*): `(H, W)`; default: the pipeline's own.
        seconds (`float`, *optional*): duration; default: the clip length the pipeline records.
        model (`Path`, *optional*): the pipeline's directory, named in errors.
        options: sampling options (`num_inference_steps`, `guidance_scale`), see `sampler_options`.
    """
    height, width = size or pipeline_size(pipeline)
    num_frames = pipeline_frames(pipeline, seconds)
    generator = torch.Generator().manual_seed(seed)
    common = {"height": height, "width": width, "num_frames": num_frames, "generator": generator, **options}
    if method == "mosa":
        if pipeline.structure is None:
            raise MissingWeightsError(
                f"--model {model}: the MoSA pipeline has no structure/ (text-to-motion) model, so it cannot "
                "turn a prompt into motion; use `kinevid animate MOTION` instead."
            )
        output = pipeline(prompt, **common)
        return GeneratedClip(to_uint8(output.frames[0]), output.motion[0], output.cameras[0])
    output = pipeline(prompt, mode="t2vm", **common)
    return echomotion_clip(output.frames[0], output.motion[0], seed)


def run_generate(args: argparse.Namespace) -> int:
    default_output = args.output_dir is None
    args.output_dir = DEFAULT_OUTPUT if default_output else args.output_dir
    size = parse_size(args.size) if args.size is not None else None
    if args.seconds is not None:
        frames_for_seconds(args.seconds, 16.0)  # checks the value before any model loads
    motion_prompt = check_prompt(args.prompt)
    out_dir = check_output_dir(Path(args.output_dir), replace_results=default_output)
    options = sampler_options(args)
    runtime = Runtime.from_args(args)
    console = Console()
    with torch_threads(args.threads):
        pipeline = runtime.place(load_pipeline(args.method, args.model, args.mosa_weights, runtime.torch_dtype))
        clip = generate_clip(pipeline, args.method, args.prompt, args.seed, size, args.seconds, args.model, **options)
        score = pose_following_score(clip)
        write_output_dir(out_dir, clip)
    console.print(f"prompt: {args.prompt!r} (motion prompt {motion_prompt!r}, {args.method}, seed {args.seed})")
    print_summary(console, "generated motion (SMPL-24)", clip, out_dir, score)
    return 0


def echomotion_clip(frames: np.ndarray, motion: Motion, seed: int) -> GeneratedClip:
    """EchoMotion has no camera: the motion is viewed by a camera sampled (from `seed`) to keep it in frame."""
    from ...render import sample_camera

    frames = to_uint8(frames)
    height, width = frames.shape[1:3]
    camera = sample_camera(
        motion.joints.detach().cpu().float(), width, height, generator=torch.Generator().manual_seed(seed)
    )
    return GeneratedClip(frames, motion, camera)


# ---------------------------------------------------------------------- animate
MOTION_SUFFIXES = (".npz", ".bvh")


def load_motion_file(path: Path) -> Motion:
    """A motion file given on the command line (`.npz` AMASS/SMPL or `.bvh`)."""
    if path.suffix.lower() not in MOTION_SUFFIXES:
        raise InvalidInputError(f"{path}: expected a motion file ending in one of {MOTION_SUFFIXES}.")
    return Motion.load(path).to(dtype=torch.float32)


def usable_frames(available: int, seconds: float | None, fps: float, what: str, interval: int = 4) -> int:
    """The `n k + 1` frames (n = `interval`) to generate from `available` frames at `fps` (cut to `--seconds`
    when given)."""
    num_frames = interval * ((available - 1) // interval) + 1
    if seconds is not None:
        num_frames = min(num_frames, frames_for_seconds(seconds, fps, interval))
    if num_frames < interval + 1:
        raise InvalidInputError(
            f"{what} has {available} frames at {fps:g} fps; at least {interval + 1} ({interval}k + 1, "
            f"{interval / fps:.2f} s) are needed."
        )
    return num_frames


def animate_clip(
    pipeline,
    method: str,
    prompt: str,
    motion: Motion,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    seconds: float | None = None,
    name: str = "the motion",
    **options,
) -> GeneratedClip:
    """Motion -> video with a loaded `method` pipeline: `motion` resampled to the pipeline's fps and cut to
    `4k + 1` frames (at most `seconds`); `name` is the motion's file, named in errors."""
    height, width = size or pipeline_size(pipeline)
    fps = float(pipeline.config.fps)
    motion = motion if abs(motion.fps - fps) < 1e-6 else motion.resample(fps)
    num_frames = usable_frames(motion.num_frames, seconds, fps, name, frame_interval(pipeline))
    motion = motion.slice(0, num_frames)
    generator = torch.Generator().manual_seed(seed)
    common = {"height": height, "width": width, "num_frames": num_frames, "generator": generator, **options}
    if method == "mosa":
        output = pipeline(prompt, motion=motion, **common)
        return GeneratedClip(to_uint8(output.frames[0]), output.motion[0], output.cameras[0])
    output = pipeline(prompt, mode="m2v", motion=motion, **common)
    return echomotion_clip(output.frames[0], motion, seed)


def check_appearance_prompt(prompt: str) -> str:
    """`animate`'s prompt (who and where) must not be empty."""
    if not prompt or not prompt.strip():
        raise InvalidInputError("--prompt is empty; describe the person and the scene, e.g. 'a man in a red coat'.")
    return prompt


def run_animate(args: argparse.Namespace) -> int:
    size = parse_size(args.size) if args.size is not None else None
    check_appearance_prompt(args.prompt)
    out_dir = check_output_dir(Path(args.output_dir))
    options = sampler_options(args)
    runtime = Runtime.from_args(args)
    motion = load_motion_file(args.motion)
    console = Console()
    with torch_threads(args.threads):
        pipeline = runtime.place(load_pipeline(args.method, args.model, args.mosa_weights, runtime.torch_dtype))
        clip = animate_clip(
            pipeline, args.method, args.prompt, motion, args.seed, size, args.seconds, str(args.motion), **options
        )
        score = pose_following_score(clip)
        write_output_dir(out_dir, clip)
    console.print(f"motion: {args.motion} -> prompt {args.prompt!r} ({args.method}, seed {args.seed})")
    print_summary(console, "driving motion (SMPL-24)", clip, out_dir, score)
    return 0


# ---------------------------------------------------------------------- capture
def video_condition(
    frames: np.ndarray, source_fps: float, fps: float, size: tuple[int, int] | None, seconds: float | None, name: str
) -> np.ndarray:
    """`frames` (a video at `source_fps`) at `fps`, `4k + 1` of them, resized to `size` (default: the video's
    size rounded down to multiples of 16): `(T, H, W, 3)` uint8."""
    import cv2

    available = math.floor((len(frames) - 1) * fps / source_fps + 1e-9) + 1
    num_frames = usable_frames(available, seconds, fps, name)
    frames = frames[np.minimum(np.round(np.arange(num_frames) * source_fps / fps).astype(int), len(frames) - 1)]
    if size is None:
        size = (frames.shape[1] // 16 * 16, frames.shape[2] // 16 * 16)
        if min(size) < 16:
            raise InvalidInputError(f"{name}: the video is {frames.shape[2]}x{frames.shape[1]}; at least 16x16 needed.")
    if size != frames.shape[1:3]:
        frames = np.stack([cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA) for frame in frames])
    return frames


def capture_clip(
    pipeline,
    source: np.ndarray,
    source_fps: float,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    seconds: float | None = None,
    name: str = "the video",
    **options,
) -> GeneratedClip:
    """Video -> motion with a loaded EchoMotion pipeline: `source` `(T, H, W, 3)` uint8 at `source_fps` (see
    `video_condition`); the clip holds the conditioning frames, the captured motion and a camera sampled from
    `seed` (EchoMotion estimates none)."""
    from ...render import frames_to_tensor

    frames = video_condition(source, source_fps, float(pipeline.config.fps), size, seconds, name)
    num_frames, height, width = frames.shape[:3]
    video = frames_to_tensor(frames)[None]  # (1, 3, T, H, W) in [-1, 1]
    generator = torch.Generator().manual_seed(seed)
    result = pipeline(
        "", mode="v2m", video=video, height=height, width=width, num_frames=num_frames, generator=generator,
        **options,
    )  # fmt: skip
    return echomotion_clip(frames.astype(np.float32) / 255.0, result.motion[0], seed)


def run_capture(args: argparse.Namespace) -> int:
    from ...render import make_grid, read_video, write_video
    from ...render.video import video_frame_rate
    from ...utils import atomic_write_group

    output = Path(args.output)
    if output.suffix.lower() not in MOTION_SUFFIXES:
        raise InvalidInputError(f"-o {output}: the motion file must end in one of {MOTION_SUFFIXES}.")
    render = Path(args.render) if args.render is not None else output.with_suffix(".mp4")
    if render.suffix.lower() != ".mp4":
        raise InvalidInputError(f"--render {render}: the video file must end in .mp4.")
    if render.resolve() == Path(args.video).resolve():
        raise InvalidInputError(f"--render {render}: would overwrite the input video; give another --render PATH.")
    check_output_path(output, "-o")
    check_output_path(render, "--render")
    size = parse_size(args.size) if args.size is not None else None
    options = sampler_options(args)
    runtime = Runtime.from_args(args)
    source, source_fps = read_video(args.video), video_frame_rate(args.video)
    console = Console()
    with torch_threads(args.threads):
        pipeline = runtime.place(load_pipeline("echomotion", args.model, args.mosa_weights, runtime.torch_dtype))
        clip = capture_clip(pipeline, source, source_fps, args.seed, size, args.seconds, str(args.video), **options)
        num_frames = len(clip.frames)
        _, mannequin, _ = clip_views(clip)
        side_by_side = make_grid([clip.frames, mannequin], captions=["video", "captured motion"], gap=0)
        with atomic_write_group([output, render]) as (motion_tmp, render_tmp):
            clip.motion.save(motion_tmp)
            write_video(side_by_side, render_tmp, fps=clip.motion.fps)
    console.print(f"wrote {output} ({num_frames} frames at {clip.motion.fps:g} fps) and {render}")
    console.print(motion_summary_table(clip.motion, title=f"captured motion of {args.video} (SMPL-24)"))
    return 0


# ---------------------------------------------------------------------- registration
def add_model_options(parser: argparse.ArgumentParser, with_method: bool = True) -> None:
    if with_method:
        parser.add_argument("--method", choices=METHODS, default="mosa", help="which pipeline (default: mosa)")
    parser.add_argument(
        "--model", type=Path, default=None,
        help="pipeline directory (`kinevid train mosa` / `echomotion-stage2` <output>/pipeline, or a Wan2.1 or "
        "CogVideoX diffusers directory with --mosa-weights); default: the shipped <method>_tiny",
    )  # fmt: skip
    parser.add_argument(
        "--mosa-weights",
        type=Path,
        default=None,
        help="MoSA weights (save_mosa_weights) to put on a Wan2.1 or CogVideoX diffusers directory given as --model",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="weights dtype (default float32)")
    parser.add_argument("--cpu-offload", action="store_true", help="model CPU offload (diffusers; needs --device cuda)")
    parser.add_argument("--vae-tiling", action="store_true", help="decode the VAE in tiles (less memory)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the pipeline's, 50)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")


def add_video_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--guidance", type=float, default=None, help="text guidance scale (default: the pipeline's)")
    parser.add_argument(
        "--size", default=None, help="video HxW, multiples of 16 (default: the pipeline's; 128x128 for the shipped one)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="text -> human video + motion with a trained MoSA or EchoMotion pipeline",
        description=f"Generate a human video and its 3D motion from a prompt (writes {', '.join(OUTPUT_FILES)}).",
    )
    parser.add_argument("prompt", nargs="?", default=DEFAULT_PROMPT, help=f'what happens (default: "{DEFAULT_PROMPT}")')
    parser.add_argument(
        "-o", "--output-dir", type=Path, default=None,
        help=f"new directory for the results (default: {DEFAULT_OUTPUT}, replaced on each run)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=None, help="duration (frames = 4k + 1; default: the pipeline's clip length)"
    )
    add_model_options(parser)
    add_video_options(parser)
    parser.set_defaults(func=run_generate)

    parser = subparsers.add_parser(
        "animate",
        help="motion file -> human video (MoSA with the motion, EchoMotion m2v)",
        description=f"Animate a motion (.npz/.bvh) as the prompt's person (writes {', '.join(OUTPUT_FILES)}).",
    )
    parser.add_argument("motion", type=Path, help="motion file (.npz or .bvh)")
    parser.add_argument("-o", "--output-dir", type=Path, required=True, help="new directory for the results")
    parser.add_argument("--prompt", required=True, help='who and where, e.g. "a man in a red coat in a park"')
    parser.add_argument("--seconds", type=float, default=None, help="cut to this duration (default: the whole motion)")
    add_model_options(parser)
    add_video_options(parser)
    parser.set_defaults(func=run_animate)

    parser = subparsers.add_parser(
        "capture",
        help="video -> 3D human motion (EchoMotion v2m)",
        description="Capture the 3D motion (SMPL-24) of the person in a video with an EchoMotion pipeline.",
    )
    parser.add_argument("video", type=Path, help="video file (.mp4 or .gif)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="motion file (.npz or .bvh)")
    parser.add_argument(
        "--render", type=Path, default=None, help="video | mannequin render (default: the motion file's name, .mp4)"
    )
    parser.add_argument("--seconds", type=float, default=None, help="use only this much of the video")
    parser.add_argument("--size", default=None, help="resize to HxW, multiples of 16 (default: the video's, rounded)")
    parser.add_argument("--guidance", type=float, default=None, help="video guidance scale (default: the pipeline's)")
    add_model_options(parser, with_method=False)
    parser.set_defaults(func=run_capture)
