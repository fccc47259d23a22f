"""`kinevid data`: build datasets.

`kinevid data synth` renders the CMU motions into a synthetic paired dataset (mannequin video, masks, depth,
skeleton maps, tracks, motion, camera, two-part caption), one CMU subject split per directory:

    kinevid data synth -o data/synth/train --num-clips 1024 --split train --seed 0
    kinevid data synth -o data/synth/test --num-clips 128 --split test --seed 1
    kinevid data synth -o data/synth_small --num-clips 16 --trials 02_01,05_02 --frames 17 --size 64 --fps 8

`kinevid data cache` encodes a synthetic dataset or a folder of mp4 videos once with the video VAE and the
text encoder, into latent shards (`kinevid.data.cache`); under `accelerate launch` each process encodes its
share of the shards:

    kinevid data cache data/synth/train -o data/cache/train --vae path/to/vae --text-encoder minilm
    accelerate launch --num_processes 8 -m kinevid.cli.main data cache data/synth/train -o data/cache/train
    kinevid data cache my_videos/ -o data/cache/mine --frames 17 --size 128 --fps 8

Rerunning either command resumes: finished shards are kept. `kinevid.data.SyntheticPairedDataset` and
`kinevid.data.LatentCacheDataset` read the results.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import InvalidInputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="build datasets", description="Build datasets for training.")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    synth = actions.add_parser(
        "synth",
        help="render CMU motions into a synthetic paired dataset",
        description=(
            "Render CMU motions into sharded clips of mannequin video, masks, skeleton maps, tracks, motion, "
            "camera and caption."
        ),
    )
    synth.add_argument("-o", "--output", type=Path, required=True, help="dataset directory")
    synth.add_argument(
        "--cmu-root",
        type=Path,
        default=None,
        help="CMU data directory (default: $KINEVID_CMU_ROOT or ../shared/data/cmu_mocap)",
    )
    synth.add_argument(
        "--split",
        choices=("train", "val", "test", "all"),
        default=None,
        help="CMU subject split (default: train; all when --trials is given)",
    )
    synth.add_argument("--trials", default=None, help="comma-separated CMU trial ids to use instead of the whole split")
    synth.add_argument("--num-clips", type=int, default=256, help="clips to make (default: 256)")
    synth.add_argument("--clips-per-shard", type=int, default=64, help="clips per shard file (default: 64)")
    synth.add_argument("--frames", type=int, default=17, help="frames per clip (default: 17)")
    synth.add_argument("--size", type=int, default=64, help="frame height and width (default: 64)")
    synth.add_argument("--fps", type=float, default=8.0, help="clip frame rate (default: 8)")
    synth.add_argument("--track-points", type=int, default=64, help="tracked surface points per clip (default: 64)")
    synth.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    synth.add_argument(
        "--colors",
        choices=["uniform", "palette"],
        default="uniform",
        help="clothing, floor and wall colours: uniform in RGB, or near the caption's named colours (default: uniform)",
    )
    synth.set_defaults(func=run_synth)

    cache = actions.add_parser(
        "cache",
        help="encode a dataset or a video folder into latent shards (VAE + text encoder)",
        description=(
            "Encode a synthetic dataset (a `kinevid data synth` directory) or a folder of mp4 videos (+ captions, "
            "optional motion npz) once with the video VAE and the text encoder, into safetensors shards. Run it "
            "under `accelerate launch` to split the shards over processes."
        ),
    )
    cache.add_argument("source", type=Path, help="synthetic dataset directory or folder of .mp4 videos")
    cache.add_argument("-o", "--output", type=Path, required=True, help="cache directory")
    cache.add_argument("--vae", default=None, help="AutoencoderKLWan directory (default: the shipped kinevid VAE)")
    cache.add_argument("--text-encoder", default="minilm", help="text encoder name or directory (default: minilm)")
    cache.add_argument("--clips-per-shard", type=int, default=16, help="clips per shard file (default: 16)")
    cache.add_argument("--batch-size", type=int, default=4, help="clips per VAE call (default: 4)")
    videos = cache.add_argument_group("video folders")
    videos.add_argument("--frames", type=int, default=17, help="frames per clip, 4k + 1 (default: 17)")
    videos.add_argument("--size", type=int, default=None, help="height and width (default: 64)")
    videos.add_argument("--height", type=int, default=None, help="height (default: --size)")
    videos.add_argument("--width", type=int, default=None, help="width (default: --size)")
    videos.add_argument("--fps", type=float, default=None, help="clip frame rate (default: the videos' own)")
    videos.add_argument("--track-points", type=int, default=64, help="tracked points per clip (default: 64)")
    cache.set_defaults(func=run_cache)

    check = actions.add_parser(
        "check",
        help="read every clip of a synthetic dataset or latent cache and report it",
        description="Read every clip of a synthetic dataset or a latent cache, check shapes and values, summarise.",
    )
    check.add_argument("root", type=Path, help="dataset or cache directory")
    check.set_defaults(func=run_check)

    preview = actions.add_parser(
        "preview",
        help="write a video of synthetic clips: video, mask, depth, skeleton, tracks, captions",
        description="Write a grid video (or GIF) of clips of a synthetic dataset, one row per clip.",
    )
    preview.add_argument("root", type=Path, help="synthetic dataset directory")
    preview.add_argument("-o", "--output", type=Path, required=True, help="output .mp4 or .gif")
    preview.add_argument("--clips", default="0,1,2,3", help="comma-separated clip indices (default: 0,1,2,3)")
    preview.add_argument("--tile-size", type=int, default=128, help="tile height in pixels (default: 128)")
    preview.set_defaults(func=run_preview)


def run_synth(args: argparse.Namespace) -> int:
    from ...data.cmu import CMUMocap
    from ...data.synth import SynthConfig, build_synthetic_dataset

    trial_ids = [t.strip() for t in args.trials.split(",") if t.strip()] if args.trials else None
    split = args.split or ("all" if trial_ids else "train")
    config = SynthConfig(
        num_clips=args.num_clips, clips_per_shard=args.clips_per_shard, num_frames=args.frames,
        height=args.size, width=args.size, fps=args.fps, seed=args.seed, num_track_points=args.track_points,
        split=args.split or (None if trial_ids else "train"), colors=args.colors,
    )  # fmt: skip
    trials = CMUMocap(args.cmu_root, split=split, fps=args.fps, min_frames=args.frames, trial_ids=trial_ids)
    if len(trials) == 0:
        raise InvalidInputError(f"no CMU trial of the {split!r} split has {args.frames} frames at {args.fps:g} fps.")
    build_synthetic_dataset(trials, args.output, config)
    print(f"wrote {config.num_clips} clips in {config.num_shards} shards to {args.output}")
    return 0


def run_cache(args: argparse.Namespace) -> int:
    from ...data.cache import build_latent_cache
    from ...data.paired import SyntheticPairedDataset
    from ...data.real_video import VideoFolderSource
    from ...data.synth import MANIFEST
    from ...models.vae import load_video_vae
    from ...text import load_text_encoder
    from ...train.distributed import process_state

    if not args.source.is_dir():
        raise InvalidInputError(f"{args.source}: no such dataset or video folder.")
    if (args.source / MANIFEST).is_file():
        source = SyntheticPairedDataset(args.source)
    else:
        height = args.height or args.size or 64
        width = args.width or args.size or 64
        source = VideoFolderSource(args.source, args.frames, height, width, args.fps, args.track_points)
    state = process_state()
    vae = load_video_vae(args.vae).to(state.device)
    text_encoder = load_text_encoder(args.text_encoder, device=state.device)
    build_latent_cache(
        source, args.output, vae, text_encoder, text_encoder_name=args.text_encoder,
        clips_per_shard=args.clips_per_shard, batch_size=args.batch_size,
        state=state if state.num_processes > 1 else None,
    )  # fmt: skip
    if state.is_main_process:
        print(f"wrote a latent cache of {len(source)} clips to {args.output}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ...data.cache import CACHE_MANIFEST, LatentCacheDataset
    from ...data.paired import SyntheticPairedDataset

    if (args.root / CACHE_MANIFEST).is_file():
        cache = LatentCacheDataset(args.root)
        cache.verify()
        vae, text = cache.manifest["vae"], cache.manifest["text_encoder"]
        fields = ", ".join(name for name, present in cache.fields.items() if present) or "none"
        print(
            f"{args.root}: latent cache of {len(cache)} clips, {cache.geometry['num_frames']} frames at "
            f"{cache.geometry['height']}x{cache.geometry['width']}, latents {cache.geometry['latent_shape']} "
            f"({cache.spatial_factor}x VAE); "
            f"optional fields: {fields}; VAE sha256 {vae['weights_sha256'][:12]}, text encoder {text['name']} "
            f"(sha256 {text['weights_sha256'][:12]}); all shards read"
        )
        return 0
    dataset = SyntheticPairedDataset(args.root)
    for index in tqdm(range(len(dataset)), desc="checking dataset", unit="clip"):
        dataset.arrays(index)
        dataset.info(index)
    config = dataset.config
    print(
        f"{args.root}: synthetic dataset of {len(dataset)} clips ({dataset.split or 'no'} split), "
        f"{config['num_frames']} frames at {config['height']}x{config['width']}, {config['fps']:g} fps; "
        "all shards read"
    )
    return 0


def run_preview(args: argparse.Namespace) -> int:
    from ...data.paired import SyntheticPairedDataset
    from ...data.preview import preview_synthetic
    from ...render.video import write_video

    dataset = SyntheticPairedDataset(args.root)
    try:
        indices = [int(text) for text in args.clips.split(",") if text.strip()]
    except ValueError:
        raise InvalidInputError(f"--clips must be comma-separated integers, got {args.clips!r}.") from None
    outside = [index for index in indices if not 0 <= index < len(dataset)]
    if not indices or outside:
        raise InvalidInputError(f"--clips {args.clips!r}: the dataset has clips 0..{len(dataset) - 1}.")
    write_video(preview_synthetic(dataset, indices, args.tile_size), args.output, fps=dataset.fps)
    print(f"wrote {args.output} ({len(indices)} clips)")
    return 0
