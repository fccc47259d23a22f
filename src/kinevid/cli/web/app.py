"""The `gr.Blocks` page of `kinevid serve`: four tabs, each a form, a run button and the result views.

Every result shows the generated video (not for text -> motion), the skeleton and mannequin videos, the
files to download (mp4, npz, BVH), the physical metrics with the pose-following score and the foot plot.
A kinevid error becomes a `gr.Error` carrying its one-line message (the page shows it; no traceback).
"""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from ...errors import KinevidError
from ..commands.generate import DEFAULT_PROMPT, METHODS
from . import handlers
from .handlers import WebResult
from .models import ModelCache

TITLE = "kinevid: human video generation with physically coherent motion"
MOTION_PROMPT = "a person jumps forward twice"
# Every tab's requests share one queue slot: one generation at a time on a small machine.
ONE_AT_A_TIME = {"concurrency_id": "generation", "concurrency_limit": 1}


def page_errors(function):
    """Turn any error of a handler into a one-line `gr.Error` (kinevid's message as it is)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except gr.Error:
            raise
        except KinevidError as error:
            raise gr.Error(str(error), duration=None, print_exception=False) from None
        except OSError as error:
            where = f"{Path(error.filename).name}: " if error.filename else ""
            raise gr.Error(f"{where}{error.strerror or error}", duration=None, print_exception=False) from None
        except Exception as error:  # a bug: still one line in the page, the traceback stays in the server log
            raise gr.Error(f"internal error ({type(error).__name__}): {error}", duration=None) from None

    return wrapper


def result_values(result: WebResult, with_video: bool = True) -> list:
    values = [str(result.video)] if with_video else []
    values += [
        str(result.skeleton),
        str(result.mannequin),
        [str(path) for path in result.downloads],
        f"**physical metrics and pose following**\n```text\n{result.summary}```",
        str(result.plot),
    ]
    return values


def result_views(prefix: str, with_video: bool = True) -> list:
    """The output components of a tab, element ids `<prefix>-video`, `-skeleton`, `-mannequin`, `-files`,
    `-summary`, `-plot` (the browser test finds them by these)."""
    views = []
    with gr.Row():
        if with_video:
            views.append(gr.Video(label="generated video", elem_id=f"{prefix}-video", autoplay=True, loop=True))
        views.append(gr.Video(label="skeleton (COCO-18)", elem_id=f"{prefix}-skeleton", autoplay=True, loop=True))
        views.append(gr.Video(label="mannequin", elem_id=f"{prefix}-mannequin", autoplay=True, loop=True))
    with gr.Row():
        files = gr.File(label="downloads (mp4, npz, BVH)", file_count="multiple", elem_id=f"{prefix}-files")
        plot = gr.Image(label="foot heights and contacts", type="filepath", elem_id=f"{prefix}-plot")
    summary = gr.Markdown(elem_id=f"{prefix}-summary")
    return [*views, files, summary, plot]


def sampling_inputs(prefix: str, with_guidance: bool = True) -> list:
    with gr.Row():
        seed = gr.Number(label="seed", value=0, precision=0, elem_id=f"{prefix}-seed")
        seconds = gr.Number(label="seconds (0: the model's clip length)", value=None, elem_id=f"{prefix}-seconds")
        guidance = gr.Number(label="guidance (0: the model's)", value=None, visible=with_guidance)
        steps = gr.Number(label="steps (0: the model's)", value=None, precision=0, elem_id=f"{prefix}-steps")
    return [seed, seconds, guidance, steps] if with_guidance else [seed, seconds, steps]


def build_app(cache: ModelCache, results_dir: Path) -> gr.Blocks:
    """The page; requests run one at a time (`queue(default_concurrency_limit=1)`), models load once in `cache`."""

    @page_errors
    def run_text_to_video(method, prompt, seed, seconds, guidance, steps, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
        progress(0, desc=f"loading {method} and generating")
        result = handlers.text_to_video(cache, results_dir, method, prompt, seed, seconds, guidance, steps)
        return result_values(result)

    @page_errors
    def run_motion_to_video(
        method,
        motion_file,
        prompt,
        seed,
        seconds,
        guidance,
        steps,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        progress(0, desc=f"loading {method} and animating")
        result = handlers.motion_to_video(
            cache, results_dir, method, motion_file, prompt, seed, seconds, guidance, steps
        )
        return result_values(result)

    @page_errors
    def run_video_to_motion(video_file, seed, seconds, steps, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
        progress(0, desc="loading echomotion and capturing")
        result = handlers.video_to_motion(cache, results_dir, video_file, seed, seconds, steps)
        return result_values(result)

    @page_errors
    def run_text_to_motion(prompt, seed, seconds, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
        progress(0, desc="generating the motion")
        result = handlers.text_to_motion(cache, results_dir, prompt, seed, seconds)
        return result_values(result, with_video=False)

    with gr.Blocks(title="kinevid", analytics_enabled=False) as app:
        gr.Markdown(f"## {TITLE}\nMoSA and EchoMotion on one code base; everything runs on this machine's CPU.")
        with gr.Tab("text -> video + motion", id="t2v"):
            method = gr.Radio(list(METHODS), value="mosa", label="method", elem_id="t2v-method")
            prompt = gr.Textbox(label="prompt: who, doing what, where", value=DEFAULT_PROMPT, elem_id="t2v-prompt")
            inputs = [method, prompt, *sampling_inputs("t2v")]
            button = gr.Button("generate", variant="primary", elem_id="t2v-run")
            button.click(run_text_to_video, inputs, result_views("t2v"), **ONE_AT_A_TIME)
        with gr.Tab("motion -> video", id="m2v"):
            method = gr.Radio(list(METHODS), value="mosa", label="method", elem_id="m2v-method")
            motion_file = gr.File(label="motion (.npz AMASS/SMPL or .bvh)", type="filepath", elem_id="m2v-motion")
            prompt = gr.Textbox(label="appearance: who and where", value="a man in a red coat", elem_id="m2v-prompt")
            inputs = [method, motion_file, prompt, *sampling_inputs("m2v")]
            button = gr.Button("animate", variant="primary", elem_id="m2v-run")
            button.click(run_motion_to_video, inputs, result_views("m2v"), **ONE_AT_A_TIME)
        with gr.Tab("video -> motion", id="v2m"):
            video_file = gr.File(label="video (.mp4)", type="filepath", elem_id="v2m-video-file")
            inputs = [video_file, *sampling_inputs("v2m", with_guidance=False)]
            button = gr.Button("capture (EchoMotion)", variant="primary", elem_id="v2m-run")
            button.click(run_video_to_motion, inputs, result_views("v2m"), **ONE_AT_A_TIME)
        with gr.Tab("text -> motion (fast)", id="t2m"):
            prompt = gr.Textbox(label="what the person does", value=MOTION_PROMPT, elem_id="t2m-prompt")
            with gr.Row():
                seed = gr.Number(label="seed", value=0, precision=0, elem_id="t2m-seed")
                seconds = gr.Number(label="seconds", value=4.0, elem_id="t2m-seconds")
            button = gr.Button("generate motion", variant="primary", elem_id="t2m-run")
            button.click(
                run_text_to_motion, [prompt, seed, seconds], result_views("t2m", with_video=False), **ONE_AT_A_TIME
            )
    app.queue(default_concurrency_limit=1)
    return app
