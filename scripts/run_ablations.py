"""Train and score the ablation rows of MoSA's or EchoMotion's paper at our scale, with one command.

    python scripts/run_ablations.py --paper mosa --output runs/ablations
    python scripts/run_ablations.py --paper echomotion --output runs/ablations --steps 1000 --eval-clips 16
    python scripts/run_ablations.py --paper mosa --rows full no_hadc --steps 5 --base-steps 5 \\
        --eval-clips 2 --eval-seeds 1 --inference-steps 2 --output /tmp/ablations_smoke     # a smoke run

Every row is one config of `configs/ablations/`: the shipped recipe with one switch changed (same data,
batch, schedule and seed). The runs they need come first, each trained once and shared:

- `base`: the common pretrained text-to-video DiT (`base_t2v.json`: MoSA-tiny's from-scratch recipe with every
  skeleton dropped, so it learns text -> video only). MoSA fine-tunes a pretrained T2V DiT; each MoSA row
  fine-tunes this one with fresh HADC / encoder weights (`model.fresh_mosa`), and EchoMotion's stage 1 starts
  its video branch from it (EchoMotion builds on a pretrained Wan).
- `echomotion_stage1` / `echomotion_stage1_colliding`: EchoMotion's stage 1 (motion branch on the frozen base)
  with MVS-RoPE / colliding positions; the stage-2 rows start from them.

Each row is scored on the same held-out test clips and generation seeds (`kinevid eval generate`'s
`evaluate_generation`, with the judge-free paired scores against the ground truth through the VAE) and by its
flow-matching losses on the test split's latent cache (`evaluate_cache_loss`, one value per clip). The tables
(`<paper>_ablations.md` / `.json` in `--output`) give each score's mean and 95% interval (over clips x
training seeds for the losses and the per-clip generation scores, each clip's value its mean over generation
seeds; over generation seeds x training seeds for set scores such as FD-kinevid).

Resumable: a finished run (its `final/` or `pipeline/`) is not trained again, an interrupted one resumes from
its latest checkpoint, and a row whose scores are on disk (`ablation_scores.json`, same protocol) is not scored
again. Each run records its resolved config (`ablation_config.json`); asking for the same run with other
settings (another `--steps`, say) is an error rather than a silent reuse.
Run directories: `OUTPUT/<run>` for training seed 0 (the configs' own paths when `--output runs/ablations`),
`OUTPUT/seed<s>/<run>` for other seeds. The budget knobs are `--steps` (every row), `--base-steps` and
`--stage1-steps`; a shortened run keeps its warmup under a tenth of its steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs" / "ablations"
CONFIG_RUN_ROOT = "runs/ablations"
"""The run directory the configs' `model.pretrained` / `init_from` point into; replaced by `--output`."""


@dataclass(frozen=True)
class Run:
    """One training run: its config (in `configs/ablations`), recipe, what it starts from and what it changes."""

    name: str
    config: str
    recipe: str  # "mosa", "echomotion-stage1" or "echomotion-stage2"
    needs: tuple[str, ...] = ()
    change: str = ""
    budget: str = "steps"  # which knob sets its steps: "steps", "base_steps" or "stage1_steps"


RUNS = {
    run.name: run
    for run in (
        Run("base", "base_t2v", "mosa", change="text -> video only (every skeleton dropped)", budget="base_steps"),
        Run("echomotion_stage1", "echomotion_stage1", "echomotion-stage1", ("base",), budget="stage1_steps"),
        Run("echomotion_stage1_colliding", "echomotion_stage1_colliding", "echomotion-stage1", ("base",),
            budget="stage1_steps"),
        Run("mosa_full", "mosa_full", "mosa", ("base",), "all components"),
        Run("mosa_no_structure", "mosa_no_structure", "mosa", ("base",),
            "w/o structure branch: `objective.skeleton_dropout: 1.0`"),
        Run("mosa_no_hadc", "mosa_no_hadc", "mosa", ("base",),
            "w/o HADC: `model.config.structure_fusion: add` (its L_m is undefined: `loss.lambda_mask: 0`)"),
        Run("mosa_no_mask_loss", "mosa_no_mask_loss", "mosa", ("base",), "HADC w/o mask loss: `loss.lambda_mask: 0`"),
        Run("mosa_no_track", "mosa_no_track", "mosa", ("base",), "w/o tracking loss: `loss.lambda_track: 0`"),
        Run("mosa_static_track", "mosa_static_track", "mosa", ("base",),
            "static tracking weights: `loss.temporal_weighting: false`"),
        Run("mosa_no_contact", "mosa_no_contact", "mosa", ("base",), "w/o contact loss: `loss.lambda_contact: 0`"),
        Run("echomotion_joint", "echomotion_joint", "echomotion-stage2", ("base", "echomotion_stage1"),
            "joint modelling (stage 2 on joint / m2v / v2m)"),
        Run("echomotion_video_only", "echomotion_video_only", "echomotion-stage2", ("base", "echomotion_stage1"),
            "video-only tuning: `objective.video_only: true`"),
        Run("echomotion_colliding", "echomotion_colliding", "echomotion-stage2",
            ("base", "echomotion_stage1_colliding"), "colliding motion positions R(f, j, j) (stages 1 and 2)"),
    )
}  # fmt: skip
PAPER_ROWS = {
    "mosa": ("full", "no_structure", "no_hadc", "no_mask_loss", "no_track", "static_track", "no_contact"),
    "echomotion": ("joint", "video_only", "colliding"),
}
METHOD = {"mosa": "mosa", "echomotion": "echomotion"}
DEFAULT_MODES = {"mosa": ("motion",), "echomotion": ("t2vm", "m2v", "v2m")}
_PAIRED = ("paired/psnr", "paired/ssim", "paired/psnr_person", "paired/ssim_person")
TABLE_SCORES = {
    "motion": (*_PAIRED, "pck", "mask_iou", "fd_kinevid"),
    "text": (*_PAIRED, "pck", "mask_iou", "fd_kinevid"),
    "m2v": (*_PAIRED, "pck", "mask_iou", "fd_kinevid"),
    "t2vm": (*_PAIRED, "pck", "fd_kinevid"),
    "v2m": ("mpjpe_mm", "physical/foot_skating_ratio"),
}
"""Generation scores shown per mode (the JSON keeps every score of `evaluate_generation`)."""
ATTENTION_SCORES = ("aligned_mass", "slope")
"""EchoMotion rows: motion -> video attention on the aligned latent frame, and its slope (see the references)."""
ARROWS = {"attention/slope": "(the 4:1 diagonal's: see references)"}
LOWER_IS_BETTER = ("loss", "diffusion", "mpjpe", "skating", "/video", "/motion", "fd_")


@dataclass
class Settings:
    paper: str
    output: Path
    rows: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: int | None
    base_steps: int | None
    stage1_steps: int | None
    eval_clips: int
    eval_seeds: int
    inference_steps: int | None
    modes: tuple[str, ...]
    test_data: Path
    test_cache: Path
    judge: bool
    config_dir: Path = CONFIG_DIR
    num_threads: int | None = None
    """Torch CPU threads of every training and scoring; a machine setting, so not part of a run's recorded
    settings (a run may resume with another thread count)."""
    log: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- runs
def run_dir(settings: Settings, name: str, seed: int) -> Path:
    root = settings.output if seed == 0 else settings.output / f"seed{seed}"
    return root / name


def _relocate(value, root: Path):
    """Config values pointing into `runs/ablations` -> the same path under `root`."""
    if isinstance(value, dict):
        return {key: _relocate(item, root) for key, item in value.items()}
    if isinstance(value, str) and (value == CONFIG_RUN_ROOT or value.startswith(CONFIG_RUN_ROOT + "/")):
        return str(root / value[len(CONFIG_RUN_ROOT) :].lstrip("/"))
    return value


def resolved_config(settings: Settings, run: Run, seed: int) -> dict:
    """The run's config with its paths under `--output`, its seed and its budget."""
    from kinevid.train.engine import read_json_config

    values = _relocate(read_json_config(settings.config_dir / f"{run.config}.json"), run_dir(settings, "", seed))
    train = values.setdefault("train", {})
    train["seed"] = seed
    steps = getattr(settings, run.budget)
    if steps is not None:
        train["max_steps"] = steps
        train["warmup_steps"] = min(int(train.get("warmup_steps", 0)), steps // 10)
    return values


def is_trained(run: Run, directory: Path) -> bool:
    marker = "final/config.json" if run.recipe == "echomotion-stage1" else "pipeline/model_index.json"
    return (directory / marker).is_file()


def _check_same_settings(directory: Path, values: dict, run: Run) -> None:
    """Record the run's resolved config; a run already there with another one (budget, seed, ...) is an error,
    so rows trained with different settings never share a table."""
    from kinevid.errors import InvalidInputError
    from kinevid.utils.io import atomic_write

    path = directory / "ablation_config.json"
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded != values:
            changed = sorted(key for key in set(recorded) | set(values) if recorded.get(key) != values.get(key))
            raise InvalidInputError(
                f"{directory}: run `{run.name}` was made with other settings (sections {changed} differ, e.g. "
                f"train {recorded.get('train')} vs {values.get('train')}); use another --output or remove it"
            )
        return
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(values, indent=2))


def _apply_machine_settings(settings: Settings, train, directory: Path) -> None:
    """Resume from the run's latest checkpoint if it has one; `--num-threads` overrides the config's threads."""
    train.resume = any((directory / "checkpoints").glob("step_*"))
    if settings.num_threads is not None:
        train.num_threads = settings.num_threads


def train_run(settings: Settings, run: Run, seed: int) -> Path:
    """Train `run` at `seed` (resuming from its latest checkpoint) unless it is done; its directory."""
    directory = run_dir(settings, run.name, seed)
    values = resolved_config(settings, run, seed)
    if (directory / "ablation_config.json").is_file() or not is_trained(run, directory):
        _check_same_settings(directory, values, run)
    if is_trained(run, directory):
        return directory
    source = str(settings.config_dir / f"{run.config}.json")
    if run.recipe == "mosa":
        from kinevid.recipes.mosa import MoSATrainingConfig, train_mosa

        config = MoSATrainingConfig.from_dict(values, directory, source)
        _apply_machine_settings(settings, config.train, directory)
        train_mosa(config)
    else:
        from kinevid.recipes.echomotion import EchoMotionStageConfig, train_echomotion

        config = EchoMotionStageConfig.from_dict(values, directory, source)
        _apply_machine_settings(settings, config.train, directory)
        train_echomotion(config)
    return directory


# ---------------------------------------------------------------------- scores
def _cache_losses(settings: Settings, run: Run, directory: Path, seed: int) -> dict[str, list[float]]:
    values = resolved_config(settings, run, seed)
    if run.recipe == "mosa":
        from kinevid.recipes.mosa import MoSATrainingConfig, evaluate_cache_loss

        config = MoSATrainingConfig.from_dict(values, directory, run.config)
    else:
        from kinevid.recipes.echomotion import EchoMotionStageConfig, evaluate_cache_loss

        config = EchoMotionStageConfig.from_dict(values, directory, run.config)
    return evaluate_cache_loss(config, directory / "final", settings.test_cache, num_clips=settings.eval_clips)


def score_run(settings: Settings, run: Run, seed: int) -> dict:
    """Cache losses and generation scores of a trained row, and for EchoMotion rows the motion -> video attention
    alignment (read back when already on disk; a part missing from scores on disk is added)."""
    from kinevid.utils.io import atomic_write

    directory = run_dir(settings, run.name, seed)
    path = directory / "ablation_scores.json"
    wanted = {"clips": settings.eval_clips, "eval_seeds": settings.eval_seeds, "modes": list(settings.modes),
              "inference_steps": settings.inference_steps, "test_data": str(settings.test_data),
              "test_cache": str(settings.test_cache), "judge": settings.judge}  # fmt: skip
    scores = json.loads(path.read_text()) if path.is_file() else {}
    complete = scores.get("protocol") == wanted and all("per_clip" in entry for entry in scores["modes"].values())
    if complete and (run.recipe != "echomotion-stage2" or "diagonal_slope" in scores.get("attention", {})):
        return scores
    if settings.num_threads is not None:
        import torch

        torch.set_num_threads(settings.num_threads)
    if not complete:
        scores = {"protocol": wanted, "cache_loss": _cache_losses(settings, run, directory, seed),
                  "modes": _generation_scores(settings, directory)}  # fmt: skip
    if run.recipe == "echomotion-stage2":  # scored later than the rest: added to rows scored before it existed
        scores["attention"] = _attention_alignment(settings, run, directory, seed)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(scores, indent=2))
    return scores


def _attention_alignment(settings: Settings, run: Run, directory: Path, seed: int) -> dict[str, list]:
    from kinevid.recipes.echomotion import EchoMotionStageConfig, evaluate_attention_alignment

    config = EchoMotionStageConfig.from_dict(resolved_config(settings, run, seed), directory, run.config)
    return evaluate_attention_alignment(config, directory / "final", settings.test_cache, num_clips=settings.eval_clips)


def _generation_scores(settings: Settings, directory: Path) -> dict[str, dict]:
    from kinevid.eval.video.generation import evaluate_generation
    from kinevid.eval.video.generation_report import write_generation_report

    modes = {}
    for mode in settings.modes:
        evaluation = evaluate_generation(
            directory / "pipeline", METHOD[settings.paper], settings.test_data, num_clips=settings.eval_clips,
            mode=mode, seeds=settings.eval_seeds, num_inference_steps=settings.inference_steps,
            judge="auto" if settings.judge else None,
        )  # fmt: skip
        write_generation_report(evaluation, directory / f"eval_{mode}")
        data = evaluation.to_dict()
        modes[mode] = {
            "rows": data["rows"], "per_seed": data["per_seed"], "per_clip": data["per_clip"], "skipped": data["skipped"]
        }  # fmt: skip
    return modes


# ---------------------------------------------------------------------- table
def _mean_interval(values: list[float]) -> tuple[float, float | None]:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return float("nan"), None
    array = np.asarray(values, np.float64)
    half = float(1.96 * array.std(ddof=1) / np.sqrt(len(array))) if len(array) > 1 else None
    return float(array.mean()), half


def summarise(paper: str, rows: dict[str, list[dict]], modes: tuple[str, ...]) -> dict:
    """Row -> score -> {mean, interval_95, n}; generation scores of the generated (or captured) row, plus the
    reference rows of the first row's evaluation (`ground truth`, `mean frame`, ...), which need no training."""
    table: dict[str, dict[str, dict]] = {}
    references: dict[str, dict[str, dict]] = {}
    for row, per_training_seed in rows.items():
        entry: dict[str, dict] = {}
        names = sorted({name for scores in per_training_seed for name in scores["cache_loss"]})
        for name in names:
            values = [v for scores in per_training_seed for v in scores["cache_loss"].get(name, [])]
            mean, half = _mean_interval(values)
            entry[f"test loss/{name}"] = {"mean": mean, "interval_95": half, "n": len(values)}
        for name in ATTENTION_SCORES:
            values = [v for scores in per_training_seed for v in scores.get("attention", {}).get(name, [])]
            if values:
                mean, half = _mean_interval(values)
                entry[f"attention/{name}"] = {"mean": mean, "interval_95": half, "n": len(values)}
        attention = [scores["attention"] for scores in per_training_seed if "attention" in scores]
        if attention:  # what uniform attention and attention exactly on the aligned frame score (no training)
            chance = [v for a in attention for v in a["chance"]]
            diagonal = [v for a in attention for v in a["diagonal_slope"]]
            references.setdefault("attention: chance (uniform attention)", {
                "aligned_mass": {"mean": float(np.mean(chance)), "interval_95": None, "n": len(chance)},
                "slope": {"mean": 0.0, "interval_95": None, "n": len(chance)},
            })  # fmt: skip
            references.setdefault("attention: 4:1 diagonal (on the aligned frame)", {
                "aligned_mass": {"mean": 1.0, "interval_95": None, "n": len(diagonal)},
                "slope": {"mean": float(np.mean(diagonal)), "interval_95": None, "n": len(diagonal)},
            })  # fmt: skip
        for mode in modes:
            generated, *others = per_training_seed[0]["modes"][mode]["rows"]
            for other in others:
                references.setdefault(f"{mode}: {other}", _row_scores(per_training_seed, mode, other))
            for name, value in _row_scores(per_training_seed, mode, generated).items():
                entry[f"{mode}/{name}"] = value
        table[row] = entry
    return {"paper": paper, "rows": table, "references": references}


def _row_scores(per_training_seed: list[dict], mode: str, row: str) -> dict[str, dict]:
    """Mean and interval of each of `row`'s scores: over clips x training seeds for the per-clip scores (each
    clip's value is its mean over generation seeds), over generation x training seeds for the set scores (FD,
    R-precision: one value per seed)."""
    per_clip: dict[str, list[float]] = {}
    per_generation_seed: dict[str, list[float]] = {}
    for scores in per_training_seed:
        for clip_scores in scores["modes"][mode]["per_clip"].get(row, {}).values():
            for name, value in clip_scores.items():
                per_clip.setdefault(name, []).append(value)
        for seed_entry in scores["modes"][mode]["per_seed"]:
            for name, value in seed_entry.get(row, {}).items():
                per_generation_seed.setdefault(name, []).append(value)
    values = {**per_generation_seed, **per_clip}
    result = {}
    for name, items in values.items():
        mean, half = _mean_interval(items)
        result[name] = {"mean": mean, "interval_95": half, "n": len(items)}
    return result


def _cell(score: dict | None) -> str:
    from kinevid.eval.video.report import format_score

    if score is None:
        return "-"
    return format_score(score["mean"], score["interval_95"])


def to_markdown(summary: dict, settings: Settings) -> str:
    paper = summary["paper"]
    losses = {name for entry in summary["rows"].values() for name in entry if name.startswith("test loss/")}
    losses.discard("test loss/loss")  # the weighted total: its weights differ between rows
    columns = sorted(losses, key=lambda name: (name != "test loss/diffusion", name))
    for mode in settings.modes:
        columns += [f"{mode}/{name}" for name in TABLE_SCORES[mode]
                    if any(f"{mode}/{name}" in entry for entry in summary["rows"].values())]  # fmt: skip
    columns += [f"attention/{name}" for name in ATTENTION_SCORES
                if any(f"attention/{name}" in entry for entry in summary["rows"].values())]  # fmt: skip
    lines = [f"## {paper} ablations at kinevid scale", ""]
    lines += [
        f"{settings.eval_clips} held-out test clips (`{settings.test_data}`, losses on `{settings.test_cache}`), "
        f"{settings.eval_seeds} generation seed(s), training seed(s) {list(settings.seeds)}; "
        f"steps: rows {settings.steps or 'config'}, base {settings.base_steps or 'config'}"
        + (f", stage 1 {settings.stage1_steps or 'config'}" if paper == "echomotion" else "")
        + ". Mean ± 95% interval; arrows: which way is better.",
        "",
    ]
    arrows = [ARROWS.get(c, "↓" if any(key in c for key in LOWER_IS_BETTER) else "↑") for c in columns]
    lines.append(
        "| row | what changed | " + " | ".join(f"{c} {a}" for c, a in zip(columns, arrows, strict=True)) + " |"
    )
    lines.append("|---|---|" + "---:|" * len(columns))
    for row, entry in summary["rows"].items():
        change = RUNS[f"{paper}_{row}"].change
        lines.append(f"| {row} | {change} | " + " | ".join(_cell(entry.get(c)) for c in columns) + " |")
    if summary["references"]:
        lines += ["", "References without training (from the first row's evaluation; the paired scores are against",
                  "the ground truth through the VAE, so `through the VAE` has none):", ""]  # fmt: skip
        ref_columns = [c for c in columns if not c.startswith("test loss/")]
        lines.append("| reference | " + " | ".join(ref_columns) + " |")
        lines.append("|---|" + "---:|" * len(ref_columns))
        for name, scores in summary["references"].items():
            mode = name.split(":", 1)[0]
            cells = [_cell(scores.get(c.split("/", 1)[1])) if c.startswith(f"{mode}/") else "" for c in ref_columns]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(summary: dict, settings: Settings) -> tuple[Path, Path]:
    from kinevid.utils.io import atomic_write_group

    def clean(value):
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, float):
            return value if np.isfinite(value) else None
        return value

    paths = (settings.output / f"{settings.paper}_ablations.json", settings.output / f"{settings.paper}_ablations.md")
    with atomic_write_group(paths) as (json_tmp, markdown_tmp):
        json_tmp.write_text(json.dumps(clean(summary), indent=2))
        markdown_tmp.write_text(to_markdown(summary, settings))
    return paths


# ---------------------------------------------------------------------- main
def plan(settings: Settings) -> list[tuple[Run, int]]:
    """Every (run, training seed) to train, dependencies first."""
    order: list[str] = []

    def visit(name: str) -> None:
        for dependency in RUNS[name].needs:
            visit(dependency)
        if name not in order:
            order.append(name)

    for row in settings.rows:
        visit(f"{settings.paper}_{row}")
    return [(RUNS[name], seed) for seed in settings.seeds for name in order]


def run(settings: Settings) -> dict:
    work = plan(settings)
    rows = [f"{settings.paper}_{row}" for row in settings.rows]
    started = time.monotonic()
    with tqdm(total=len(work) + len(rows) * len(settings.seeds), desc=f"{settings.paper} ablations",
              unit="job", position=0) as progress:  # fmt: skip
        for item, seed in work:
            progress.set_postfix_str(f"train {item.name} seed {seed}")
            train_run(settings, item, seed)
            progress.update()
        per_row: dict[str, list[dict]] = {}
        for seed in settings.seeds:
            for name in rows:
                progress.set_postfix_str(f"score {name} seed {seed}")
                per_row.setdefault(name.split("_", 1)[1], []).append(score_run(settings, RUNS[name], seed))
                progress.update()
    summary = summarise(settings.paper, per_row, settings.modes)
    summary["settings"] = {
        "rows": list(settings.rows), "seeds": list(settings.seeds), "steps": settings.steps,
        "base_steps": settings.base_steps, "stage1_steps": settings.stage1_steps, "eval_clips": settings.eval_clips,
        "eval_seeds": settings.eval_seeds, "inference_steps": settings.inference_steps, "modes": list(settings.modes),
        "test_data": str(settings.test_data), "test_cache": str(settings.test_cache),
        "minutes": round((time.monotonic() - started) / 60.0, 2),
    }  # fmt: skip
    json_path, markdown_path = write_tables(summary, settings)
    print(f"tables: {markdown_path} and {json_path}")
    maps = {row: scores[0]["attention"]["mean_map"] for row, scores in per_row.items()
            if "mean_map" in scores[0].get("attention", {})}  # fmt: skip
    if maps:
        from kinevid.eval.video.attention_sync import plot_frame_attention

        plot_frame_attention(maps, settings.output / f"{settings.paper}_attention.png")
        print(f"motion -> video attention (training seed {settings.seeds[0]}): {settings.paper}_attention.png")
    return summary


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--paper", required=True, choices=sorted(PAPER_ROWS))
    parser.add_argument("--output", required=True, type=Path, help="run directories and the tables")
    parser.add_argument("--rows", nargs="+", help="rows to run (default: all of the paper's)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds (default: 0)")
    parser.add_argument("--steps", type=_positive, help="optimiser steps of every row (default: the configs')")
    parser.add_argument("--base-steps", type=_positive, help="steps of the common T2V base (default: its config's)")
    parser.add_argument("--stage1-steps", type=_positive, help="steps of EchoMotion's stage 1 (default: config's)")
    parser.add_argument("--eval-clips", type=_positive, default=16, help="held-out clips scored (default: 16)")
    parser.add_argument("--eval-seeds", type=_positive, default=2, help="generation seeds 0..N-1 (default: 2)")
    parser.add_argument("--inference-steps", type=_positive, help="denoising steps (default: the pipeline's)")
    parser.add_argument("--modes", nargs="+", help="generation modes (default: mosa motion; echomotion all three)")
    parser.add_argument("--test-data", type=Path, default=REPO_ROOT / "data" / "synth128v2_test")
    parser.add_argument(
        "--test-cache", type=Path, default=REPO_ROOT / "data" / "cache" / "vae_long" / "synth128v2_test"
    )
    parser.add_argument("--no-judge", action="store_true", help="skip the MediaPipe pose judge")
    parser.add_argument("--num-threads", type=_positive, help="torch CPU threads (default: the configs' / torch's)")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from kinevid.errors import InvalidInputError
    from kinevid.eval.video.generation import GENERATION_MODES

    rows = tuple(args.rows or PAPER_ROWS[args.paper])
    unknown = [row for row in rows if row not in PAPER_ROWS[args.paper]]
    if unknown:
        raise InvalidInputError(
            f"`--rows` {unknown} are not rows of {args.paper}; choose from {PAPER_ROWS[args.paper]}"
        )
    modes = tuple(args.modes or DEFAULT_MODES[args.paper])
    bad_modes = [mode for mode in modes if mode not in GENERATION_MODES[METHOD[args.paper]]]
    if bad_modes:
        raise InvalidInputError(f"`--modes` {bad_modes}: {args.paper} has {GENERATION_MODES[METHOD[args.paper]]}")
    return Settings(
        paper=args.paper, output=args.output, rows=rows, seeds=tuple(dict.fromkeys(args.seeds)), steps=args.steps,
        base_steps=args.base_steps, stage1_steps=args.stage1_steps, eval_clips=args.eval_clips,
        eval_seeds=args.eval_seeds, inference_steps=args.inference_steps, modes=modes, test_data=args.test_data,
        test_cache=args.test_cache, judge=not args.no_judge, config_dir=args.config_dir, num_threads=args.num_threads,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from kinevid.errors import KinevidError

    try:
        settings = parse_args(argv)
        settings.output.mkdir(parents=True, exist_ok=True)
        run(settings)
    except (KinevidError, OSError) as error:
        print(f"run_ablations: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
