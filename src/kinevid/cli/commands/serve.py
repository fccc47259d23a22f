"""`kinevid serve`: the web demo (Gradio; `pip install kinevid[demo]`).

    kinevid serve                                  # http://127.0.0.1:7860, the shipped models
    kinevid serve --port 8080 --host 0.0.0.0 --model-dir runs/pipelines

Four tabs: text -> video + motion (MoSA or EchoMotion), motion -> video (an uploaded .npz/.bvh),
video -> motion (an uploaded video, EchoMotion) and text -> motion (the shipped structure model, fast).
`--model-dir` holds one pipeline directory per method, named `mosa` / `echomotion` (or `<method>_tiny`);
without it the shipped `kinevid/assets/<method>_tiny` pipelines are used. Each pipeline loads at its
first request and stays loaded; requests run one at a time. Results go to `--results-dir` (default: a
temporary directory removed when the server stops).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from ...errors import InvalidInputError, KinevidError


def run_serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port must be in 1..65535, got {args.port}.")
    if args.model_dir is not None and not args.model_dir.is_dir():
        raise InvalidInputError(f"--model-dir {args.model_dir}: no such directory.")
    try:
        from ..web.app import build_app
    except ImportError as error:
        raise KinevidError(
            f"kinevid serve needs Gradio ({error.name or error} is missing): pip install 'kinevid[demo]'."
        ) from None
    from ..web.handlers import MAX_VIDEO_BYTES
    from ..web.models import ModelCache

    results_dir = args.results_dir or Path(tempfile.mkdtemp(prefix="kinevid-serve-"))
    app = build_app(ModelCache(args.model_dir), results_dir)
    print(f"kinevid serve: http://{args.host}:{args.port} (results in {results_dir})", flush=True)
    try:
        app.launch(
            server_name=args.host, server_port=args.port, allowed_paths=[str(results_dir)], show_error=True,
            max_file_size=MAX_VIDEO_BYTES,  # Gradio refuses bigger uploads before they reach the disk
        )  # fmt: skip
    finally:
        if args.results_dir is None:
            shutil.rmtree(results_dir, ignore_errors=True)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="the web demo (Gradio): text/motion/video -> video/motion in the browser",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument(
        "--model-dir", type=Path, default=None,
        help="directory with a pipeline directory per method (mosa/, echomotion/); default: the shipped models",
    )  # fmt: skip
    parser.add_argument("--results-dir", type=Path, default=None, help="keep results here (default: a temp dir)")
    parser.set_defaults(func=run_serve)
