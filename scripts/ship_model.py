"""Copy a trained model into the package (`src/kinevid/assets/<name>`) with its model card.

    python scripts/ship_model.py vae runs/vae_long/final --card configs/cards/vae.json --fp16
    python scripts/ship_model.py mosa_tiny runs/mosa/pipeline --card configs/cards/mosa_tiny.json --fp16
    python scripts/ship_model.py echomotion_tiny runs/em2/pipeline --card configs/cards/echomotion_tiny.json --fp16

A VAE directory is copied as is. A pipeline directory is copied without its `vae/` and `structure/`:
its index links the shipped ones (`component_paths`), after checking that its VAE is the shipped VAE
bit for bit, after the same fp16 rounding when the shipped VAE is stored in fp16 (a pipeline trained on
another VAE's latents would decode garbage) and that it names its
text encoder (the bundled MiniLM) rather than holding a copy. The model card
(`README.md`) is written from the card JSON (what was trained on, the command, the measured scores)
plus what the training logs say (steps, wall-clock time). The new directory appears complete or not
at all.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "src" / "kinevid" / "assets"
SHARED = {"vae": "../vae", "structure": "../structure"}


def training_time(run_dirs: list[Path]) -> tuple[int, float]:
    """(optimiser steps, seconds) of the runs' `logs.jsonl`, from the logged steps/s between log lines."""
    steps, seconds = 0, 0.0
    for run in run_dirs:
        previous = 0
        for line in (run / "logs.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if "steps_per_s" in entry and entry["step"] > previous:
                seconds += (entry["step"] - previous) / entry["steps_per_s"]
                previous = entry["step"]
        steps += previous
    return steps, seconds


def weights_digest(directory: Path, fp16: bool = False) -> str:
    """SHA-256 of a VAE's weights as loaded (float32); `fp16` rounds them through float16 first, as shipping does."""
    from kinevid.models.vae import load_video_vae, vae_identity

    vae = load_video_vae(directory)
    if fp16:
        vae = vae.half().float()
    return vae_identity(vae)["weights_sha256"]


def stored_in_fp16(directory: Path) -> bool:
    """Whether the floating-point weights under `directory` are stored as float16."""
    from safetensors import safe_open

    for path in directory.rglob("*.safetensors"):
        with safe_open(str(path), framework="pt") as weights:
            return any(weights.get_slice(key).get_dtype() == "F16" for key in weights.keys())  # noqa: SIM118 - not iterable
    return False


def card_markdown(name: str, card: dict, steps: int, seconds: float, size_mb: float) -> str:
    lines = [f"# kinevid `{name}`", "", card["summary"], ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in card.get("facts", {}).items()]
    lines += [f"| optimiser steps | {steps} |", f"| training time | {seconds / 3600:.2f} h on a 2-core CPU |"]
    lines += [f"| weights | {size_mb:.1f} MB (safetensors) |", ""]
    lines += ["## Reproduce", "", "```", *card["commands"], "```", ""]
    lines += ["## Measured", "", *card["scores"], ""]
    if card.get("limits"):
        lines += ["## Limits", "", *[f"- {limit}" for limit in card["limits"]], ""]
    return "\n".join(lines)


def to_half_precision(directory: Path) -> None:
    """Store the floating-point weights under `directory` as fp16 (loading casts back to the asked dtype)."""
    from safetensors.torch import load_file, save_file

    for path in directory.rglob("*.safetensors"):
        state = load_file(str(path))
        save_file({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, str(path))


def ship(name: str, source: Path, card_file: Path, runs: list[Path], half: bool = False) -> Path:
    card = json.loads(card_file.read_text())
    target = ASSETS / name
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    if (source / "model_index.json").is_file():  # a pipeline: link the shared components
        if (source / "text_encoder").is_dir():
            sys.exit(
                f"{source}: holds a copy of its text encoder; ship pipelines that name theirs (`text_encoder_name`)."
            )
        # a pipeline trained with the fp32 VAE that was then shipped in fp16 decodes with the rounded weights
        as_shipped = stored_in_fp16(ASSETS / "vae")
        if weights_digest(source / "vae", fp16=as_shipped) != weights_digest(ASSETS / "vae"):
            sys.exit(f"{source / 'vae'}: not the shipped VAE ({ASSETS / 'vae'}); ship that VAE first or retrain.")
        shutil.copytree(source, partial, ignore=shutil.ignore_patterns(*SHARED))
        index = json.loads((partial / "model_index.json").read_text())
        index["component_paths"] = {name: link for name, link in SHARED.items() if (source / name).is_dir()}
        (partial / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        if half:
            to_half_precision(partial / "transformer")
    else:
        shutil.copytree(source, partial)
        if half:
            to_half_precision(partial)
    for path in partial.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # checkpoints are written private; the package is not
    size_mb = sum(path.stat().st_size for path in partial.rglob("*.safetensors")) / 1e6
    steps, seconds = training_time(runs)
    (partial / "README.md").write_text(card_markdown(name, card, steps, seconds, size_mb))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="directory under src/kinevid/assets (e.g. vae, mosa_tiny)")
    parser.add_argument("source", type=Path, help="trained VAE or pipeline directory")
    parser.add_argument("--card", type=Path, required=True, help="model card JSON")
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories with logs.jsonl")
    parser.add_argument("--fp16", action="store_true", help="store weights in fp16 (a transformer or a VAE)")
    args = parser.parse_args()
    target = ship(args.name, args.source, args.card, args.runs, half=args.fp16)
    print(f"shipped {target}")


if __name__ == "__main__":
    main()
