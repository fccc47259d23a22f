"""The video VAE against its targets, on held-out (val-subject) synthetic clips at the shipped resolution.

    .venv/bin/python benchmarks/bench_vae.py [--vae DIR | --checkpoint RUN/PHASE/checkpoints/step_N] [--clips 32]

Targets (issue 15): PSNR >= 30 dB, SSIM >= 0.9, weights <= 10 MB (fp16 allowed), decode of one clip <= 2 s
on the CPU. The decode and encode are timed with the VAE's 3D convolutions on oneDNN (`use_onednn_conv3d`, what
`load_video_vae` gives) and, as a reference in the same run, on PyTorch's own backend choice. Reference for the
scores in the same run: the same clips squeezed to the latent grid's size without any
learning (area-average over the VAE's 4 frames x f x f pixels, f its spatial factor, then nearest-neighbour
back up), which keeps 3 values per latent cell where the VAE keeps 16. Besides whole frames, the PSNR over the
renderer's person masks: the figure covers a few percent of a frame, and it is what a pose estimator has to see.

`--latent-noise 0.1 0.3`: also decode the latents with Gaussian noise of that many per-channel latent stds added
(each clip's own per-channel std), the whole-frame and person PSNR of each. A DiT's
sample is the clean latent plus its residual error, so this shows how forgiving a latent space is to drawing
errors: two VAEs with the same clean reconstruction can differ a lot here.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLWan
from safetensors.torch import load_file

from kinevid.eval.image_quality import psnr, ssim
from kinevid.models.vae import (
    SHIPPED_VAE_DIR,
    load_video_vae,
    pool_to_latent_grid,
    use_onednn_conv3d,
    use_pytorch_conv3d,
    vae_spatial_factor,
)
from kinevid.recipes.vae import SyntheticClipFrames
from timing import best_seconds

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"psnr": 30.0, "ssim": 0.9, "megabytes_fp16": 10.0, "decode_seconds": 2.0}


def vae_from_checkpoint(checkpoint: Path) -> AutoencoderKLWan:
    """A VAE with the weights of a `kinevid train vae` checkpoint (config from the run's `vae_config.json`)."""
    run_config = json.loads((checkpoint.parents[2] / "vae_config.json").read_text())
    vae = AutoencoderKLWan(**run_config["model"])
    vae.load_state_dict(load_file(checkpoint / "model.safetensors"))
    return vae.eval()


def grid_baseline(video: torch.Tensor, spatial_factor: int = 8) -> torch.Tensor:
    """Area-average to the latent grid of a VAE with `spatial_factor` f, then repeat back: latent frame 0 ->
    frame 0, frame i -> frames 4i-3..4i, each cell -> its f x f pixels. `(B, 3, T, H, W)` -> the same shape."""
    pooled = pool_to_latent_grid(video, spatial_factor=spatial_factor)
    f = spatial_factor
    first = F.interpolate(pooled[:, :, :1], scale_factor=(1, f, f), mode="nearest")
    rest = F.interpolate(pooled[:, :, 1:], scale_factor=(4, f, f), mode="nearest")
    return torch.cat([first, rest], dim=2)


def person_psnr(reconstruction: torch.Tensor, video: torch.Tensor, person: torch.Tensor) -> float:
    """PSNR (dB, values in [-1, 1]) over the person's pixels. `reconstruction`, `video`: `(1, 3, T, H, W)`;
    `person`: `(T, H, W)` bool."""
    error = (reconstruction - video).square().mean(dim=1)[0]
    return 10 * math.log10(4.0 / error[person].mean().item())


def latent_std(latents: torch.Tensor) -> torch.Tensor:
    """Per-channel std `(1, C, 1, 1, 1)` of `latents` `(1, C, F, h, w)`: the unit DiTs are normalised in (the
    clip's own, so checkpoints without latent statistics are measured the same way)."""
    return latents.transpose(0, 1).flatten(1).std(dim=1).view(1, -1, 1, 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vae", type=Path, default=None, help="an AutoencoderKLWan directory (default: the shipped)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a kinevid train vae checkpoint directory")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "synth128_val", help="held-out clips")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--latent-noise", type=float, nargs="*", default=[], help="noise levels, in latent stds")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; the CPU has 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    vae = vae_from_checkpoint(args.checkpoint) if args.checkpoint else load_video_vae(args.vae or SHIPPED_VAE_DIR)
    use_onednn_conv3d(vae)  # as load_video_vae does; a checkpoint is built here
    clips = SyntheticClipFrames(args.data)
    count = min(args.clips, len(clips))
    scores = {name: {"psnr": [], "ssim": [], "psnr_frame0": [], "psnr_person": []} for name in ("vae", "grid")}
    noisy = {level: {"psnr": [], "psnr_person": []} for level in args.latent_noise}
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for index in range(count):
            video = clips.video(index)
            person = torch.from_numpy(clips.masks(index))  # (T, H, W) bool
            for name, reconstruction in (
                ("vae", vae.decode(vae.encode(video).latent_dist.mode()).sample),
                ("grid", grid_baseline(video, vae_spatial_factor(vae))),
            ):
                scores[name]["psnr"].append(psnr(reconstruction, video).mean().item())
                scores[name]["ssim"].append(ssim(reconstruction, video).mean().item())
                # The first frame is encoded alone (an image): the image phase of training shows here first.
                scores[name]["psnr_frame0"].append(psnr(reconstruction[:, :, :1], video[:, :, :1]).mean().item())
                # The figure covers a few percent of a frame: its own PSNR is what pose estimators see.
                scores[name]["psnr_person"].append(person_psnr(reconstruction, video, person))
            if noisy:
                latents = vae.encode(video).latent_dist.mode()
                std = latent_std(latents)
                for level, values in noisy.items():
                    noise = torch.randn(latents.shape, generator=generator) * std * level
                    reconstruction = vae.decode(latents + noise).sample
                    values["psnr"].append(psnr(reconstruction, video).mean().item())
                    values["psnr_person"].append(person_psnr(reconstruction, video, person))
        video = clips.video(0)
        latents = vae.encode(video).latent_dist.mode()
        encode_seconds = best_seconds(lambda: vae.encode(video), repeats=3)
        decode_seconds = best_seconds(lambda: vae.decode(latents), repeats=3)
        use_pytorch_conv3d(vae)  # the reference: PyTorch's own choice of conv3d backend (im2col at batch 1)
        default_encode_seconds = best_seconds(lambda: vae.encode(video), repeats=3)
        default_decode_seconds = best_seconds(lambda: vae.decode(latents), repeats=3)
        use_onednn_conv3d(vae)

    megabytes = sum(p.numel() for p in vae.parameters()) * 2 / 1e6
    mean = {name: {key: sum(v) / len(v) for key, v in values.items()} for name, values in scores.items()}
    frames, height, width = video.shape[2:]
    print(f"{count} held-out clips of {frames} x {height} x {width} from {args.data}")
    print(f"{'':>22} {'VAE':>9} {'grid ref':>9} {'target':>8} {'VAE / target':>13}")
    for key in ("psnr", "ssim"):
        print(f"{key:>22} {mean['vae'][key]:9.3f} {mean['grid'][key]:9.3f} {TARGETS[key]:8.2f} "
              f"{mean['vae'][key] / TARGETS[key]:13.3f}")  # fmt: skip
    print(f"{'psnr, frame 0 only':>22} {mean['vae']['psnr_frame0']:9.3f} {mean['grid']['psnr_frame0']:9.3f}")
    print(f"{'psnr, person pixels':>22} {mean['vae']['psnr_person']:9.3f} {mean['grid']['psnr_person']:9.3f}")
    print(f"{'weights MB (fp16)':>22} {megabytes:9.2f} {'':>9} {TARGETS['megabytes_fp16']:8.2f} "
          f"{megabytes / TARGETS['megabytes_fp16']:13.3f}")  # fmt: skip
    print(f"{'decode s / clip':>22} {decode_seconds:9.2f} {'':>9} {TARGETS['decode_seconds']:8.2f} "
          f"{decode_seconds / TARGETS['decode_seconds']:13.3f}")  # fmt: skip
    print(f"{'encode s / clip':>22} {encode_seconds:9.2f}")
    print(f"{'PyTorch conv3d path':>22} decode {default_decode_seconds:.2f} s, encode {default_encode_seconds:.2f} s; "
          f"oneDNN / PyTorch: decode {decode_seconds / default_decode_seconds:.2f}x, "
          f"encode {encode_seconds / default_encode_seconds:.2f}x ({torch.get_num_threads()} thread(s))")  # fmt: skip
    for level, values in noisy.items():
        print(f"{f'+ noise {level:g} std':>22} psnr {sum(values['psnr']) / count:7.3f}  "
              f"person {sum(values['psnr_person']) / count:7.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
