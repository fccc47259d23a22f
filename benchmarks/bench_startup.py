"""Start-up of `kinevid motion`: imports and model load vs generation (target: start-up <= 1.5 s).

    .venv/bin/python benchmarks/bench_startup.py [--repeats 5] [--baseline-src DIR]

Each measurement is a fresh interpreter, run `--repeats` times (medians printed), all at one torch
thread. Measured in the same run:

- reference: `python -c "import torch"`, the floor no kinevid change can go below;
- phases: a process that imports `TextToMotionPipeline` (import), loads the shipped checkpoint and
  the text encoder (load) and generates 10 s of motion (generation), timed inside the process;
- the whole `kinevid motion PROMPT -o out.npz --seconds 10` command; its start-up is the command's
  time minus the phases' generation.

Times are wall-clock and CPU (user + system) seconds: on a machine shared with other jobs the CPU
time is the steadier of the two. `--baseline-src DIR` also runs the phases with `DIR` (another
checkout's `src/`, e.g. `git archive REV src | tar -x -C /tmp/base`) first on `PYTHONPATH`, for a
before/after in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 1.5
PROMPT = "a person walks"
SECONDS = 10.0

PHASES = f"""
import json, time
def now():
    return time.perf_counter(), time.process_time()
marks = [now()]
import torch
torch.set_num_threads(1)
marks.append(now())
from kinevid.pipelines.pipeline_text_to_motion import TextToMotionPipeline
marks.append(now())
pipeline = TextToMotionPipeline.from_pretrained()
pipeline.text_encoder
marks.append(now())
pipeline({PROMPT!r}, seconds={SECONDS}, seed=0)
marks.append(now())
names = ["torch", "kinevid import", "load", "generation"]
print(json.dumps({{name: [b[0] - a[0], b[1] - a[1]] for name, a, b in zip(names, marks, marks[1:])}}))
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall, cpu, stdout) of one subprocess."""
    cpu, tic = children_cpu(), time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - tic, children_cpu() - cpu, result.stdout


def median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def phases(env: dict[str, str], repeats: int) -> dict[str, tuple[float, float]]:
    runs = [json.loads(run([sys.executable, "-c", PHASES], env)[2].strip().splitlines()[-1]) for _ in range(repeats)]
    return {name: median_pair([r[name] for r in runs]) for name in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-src", type=Path, default=None, help="another src/ tree to compare against")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kinevid = str(Path(sys.executable).with_name("kinevid"))

    torch_only = median_pair([run([sys.executable, "-c", "import torch"], env)[:2] for _ in range(args.repeats)])
    current = phases(env, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        command = [kinevid, "motion", PROMPT, "-o", f"{tmp}/motion.npz", "--seconds", f"{SECONDS:g}", "--seed", "0"]
        cli = median_pair([run(command, env)[:2] for _ in range(args.repeats)])
    baseline = None
    if args.baseline_src is not None:
        baseline_env = {**env, "PYTHONPATH": f"{args.baseline_src.resolve()}{os.pathsep}{env.get('PYTHONPATH', '')}"}
        baseline = phases(baseline_env, args.repeats)

    print(f"medians of {args.repeats} fresh processes, 1 torch thread; seconds as wall / cpu")
    print(f"reference `import torch`:          {torch_only[0]:6.3f} / {torch_only[1]:6.3f}")
    for label, measured in (("this tree", current), (f"baseline {args.baseline_src}", baseline)):
        if measured is None:
            continue
        startup = [sum(measured[name][i] for name in ("torch", "kinevid import", "load")) for i in (0, 1)]
        print(f"{label}:")
        for name, (wall, cpu) in measured.items():
            print(f"  {name:32s} {wall:6.3f} / {cpu:6.3f}")
        print(
            f"  start-up (torch + import + load) {startup[0]:6.3f} / {startup[1]:6.3f}   "
            f"{startup[1] / torch_only[1]:.2f}x `import torch` (cpu), {startup[0] / TARGET_SECONDS:.2f}x target (wall)"
        )
    generation = current["generation"]
    startup_cli = (cli[0] - generation[0], cli[1] - generation[1])
    print(f"`kinevid motion` ({SECONDS:g} s of motion):    {cli[0]:6.3f} / {cli[1]:6.3f}")
    print(
        f"  start-up (command - generation)  {startup_cli[0]:6.3f} / {startup_cli[1]:6.3f}   "
        f"target <= {TARGET_SECONDS} s: {startup_cli[0] / TARGET_SECONDS:.2f}x (wall), "
        f"{startup_cli[1] / TARGET_SECONDS:.2f}x (cpu)"
    )


if __name__ == "__main__":
    main()
