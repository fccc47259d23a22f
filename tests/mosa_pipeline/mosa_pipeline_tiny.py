"""Tiny MoSA components shared by the pipeline and recipe tests (CPU, seconds)."""

from __future__ import annotations

import functools

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler, WanPipeline
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

from kinevid.models.appearance import MoSAWanTransformer3DModel
from kinevid.models.vae import tiny_vae_config
from kinevid.pipelines import MoSAPipeline, TextToMotionPipeline
from kinevid.text import load_text_encoder
from tiny_models import single_threaded, tiny_wan_config  # noqa: F401 - autouse fixture, re-exported

HEIGHT = WIDTH = 32
NUM_FRAMES = 5
FPS = 16.0
MAX_SEQUENCE_LENGTH = 16
TINY_MOSA_CONFIG = tiny_wan_config(attention_head_dim=8, in_channels=16, out_channels=16, text_dim=384)  # MiniLM text


@functools.cache
def text_encoder():
    return load_text_encoder("minilm")


def tiny_mosa(seed: int = 0, randomize_mosa: bool = True) -> MoSAWanTransformer3DModel:
    """A random tiny MoSA DiT; `randomize_mosa` replaces the zero-initialised HADC / encoder weights by random
    ones, so the skeleton changes the output (a fresh model ignores it by design)."""
    torch.manual_seed(seed)
    model = MoSAWanTransformer3DModel(**TINY_MOSA_CONFIG)
    if randomize_mosa:
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for parameter in model.mosa_parameters():
                parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def tiny_vae(seed: int = 0) -> AutoencoderKLWan:
    torch.manual_seed(seed)
    return AutoencoderKLWan(**tiny_vae_config()).eval()


@functools.cache
def shipped_structure() -> TextToMotionPipeline:
    return TextToMotionPipeline.from_pretrained(text_encoder=text_encoder())


def tiny_pipeline(structure: bool = True, max_sequence_length: int = MAX_SEQUENCE_LENGTH) -> MoSAPipeline:
    return MoSAPipeline(
        tiny_mosa(),
        tiny_vae(),
        text_encoder(),
        FlowMatchEulerDiscreteScheduler(shift=3.0),
        structure=shipped_structure() if structure else None,
        max_sequence_length=max_sequence_length,
        fps=FPS,
    )


def build_tiny_cache(root, vae, num_clips: int = 4, num_frames: int = NUM_FRAMES, size: int = HEIGHT):
    """A latent cache of synthetic mannequin clips of the sample CMU walk (no CMU index needed), made with
    `kinevid.data`'s own builders: `build_synthetic_dataset` then `build_latent_cache`."""
    from kinevid.data.cache import build_latent_cache
    from kinevid.data.cmu import CMUTrial
    from kinevid.data.paired import SyntheticPairedDataset
    from kinevid.data.synth import SynthConfig, build_synthetic_dataset
    from kinevid.motion import Motion
    from kinevid.motion.io import sample_motion_path

    walk = Motion.load(sample_motion_path())
    trial = CMUTrial("02_01", "02", walk, ["walk forward"], "walk", "Walk")
    config = SynthConfig(
        num_clips=num_clips, clips_per_shard=num_clips, num_frames=num_frames, height=size, width=size,
        fps=8.0, num_track_points=16,
    )  # fmt: skip
    build_synthetic_dataset([trial], root / "synth", config, show_progress=False)
    return build_latent_cache(
        SyntheticPairedDataset(root / "synth"), root / "cache", vae, text_encoder(), "minilm", show_progress=False
    )


# ---------------------------------------------------------------------- a tiny Wan2.1 diffusers directory
WAN_TEXT_DIM = 16  # the tiny umT5's width (Wan2.1's umT5-XXL: 4096)


def cache_with_vae(root, vae) -> tuple:
    """`(cache directory, VAE directory)`: `vae` saved under `root/vae` and a tiny cache encoded with it."""
    vae.save_pretrained(root / "vae")
    return build_tiny_cache(root, vae), root / "vae"


def first_batch(cache_dir, size: int = 2) -> dict:
    """The first `size` items of a tiny cache, collated."""
    from kinevid.data.cache import LatentCacheDataset

    dataset = LatentCacheDataset(cache_dir, expect_text_encoder="minilm")
    return torch.utils.data.default_collate([dataset[i] for i in range(size)])


def _tokenizer() -> T5TokenizerFast:
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    corpus = ["a man in a red coat walks in a park", "a woman dances on a beach at sunset"] * 5
    trainer = trainers.UnigramTrainer(vocab_size=60, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tokenizer.train_from_iterator(corpus, trainer)
    return T5TokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", extra_ids=0
    )


def save_tiny_wan_with_mosa_weights(root):
    """A tiny `WanPipeline` directory laid out like Wan2.1-T2V-1.3B-Diffusers, and MoSA weights (non-zero, as if
    trained) for its transformer: `(wan_dir, weights_dir, mosa_model)`."""
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    umt5 = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=WAN_TEXT_DIM, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
        relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
    ))  # fmt: skip
    transformer_config = tiny_wan_config(attention_head_dim=8, in_channels=16, out_channels=16, text_dim=WAN_TEXT_DIM)
    from diffusers import WanTransformer3DModel

    wan = WanPipeline(
        tokenizer=tokenizer, text_encoder=umt5.eval(), transformer=WanTransformer3DModel(**transformer_config).eval(),
        vae=tiny_vae(), scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                          flow_shift=3.0),
    )  # fmt: skip
    wan.save_pretrained(root / "Wan2.1-T2V-tiny-Diffusers")
    mosa = MoSAWanTransformer3DModel.from_pretrained(root / "Wan2.1-T2V-tiny-Diffusers" / "transformer",
                                                     skeleton_encoder_dims=[4, 8, 8])  # fmt: skip
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in mosa.mosa_parameters():
            parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    mosa.save_mosa_weights(root / "mosa_weights")
    return root / "Wan2.1-T2V-tiny-Diffusers", root / "mosa_weights", mosa.eval()
