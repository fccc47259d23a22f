"""Cut the bundled sample motion (`src/kinevid/motion/assets/cmu_02_01_walk.bvh`) from a CMU BVH file.

    .venv/bin/python scripts/make_sample_bvh.py ../shared/data/bvh/02_01.bvh \
        src/kinevid/motion/assets/cmu_02_01_walk.bvh --start 1 --seconds 4 --stride 4

Frame 0 of the CMU/Daz BVH files is a T-pose reference, so the excerpt starts at frame 1. Every
`stride`-th frame is kept (120 fps / 4 = 30 fps, no interpolation) and values are written with 4
decimals, which keeps the file small (about 65 KB); the hierarchy is copied (offsets rounded
to the same 4 decimals).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from kinevid.motion.io import read_bvh, write_bvh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="CMU BVH file")
    parser.add_argument("output", type=Path, help="where to write the excerpt")
    parser.add_argument("--start", type=int, default=1, help="first frame (0-based) of the excerpt")
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="length of the excerpt (at most; clipped at the end of the file)"
    )
    parser.add_argument("--stride", type=int, default=4, help="keep every n-th frame")
    parser.add_argument("--precision", type=int, default=4, help="decimals written")
    args = parser.parse_args()

    bvh = read_bvh(args.source)
    stop = min(bvh.num_frames, args.start + round(args.seconds / bvh.frame_time))
    excerpt = replace(bvh, frames=bvh.frames[args.start : stop : args.stride], frame_time=bvh.frame_time * args.stride)
    write_bvh(excerpt, args.output, precision=args.precision)
    size_kb = args.output.stat().st_size / 1024
    print(f"{args.output}: {excerpt.num_frames} frames at {excerpt.fps:g} fps from {args.source} ({size_kb:.0f} KB)")


if __name__ == "__main__":
    main()
