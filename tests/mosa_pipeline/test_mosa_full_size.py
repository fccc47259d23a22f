"""`MoSAPipeline.from_wan_pretrained`: MoSA weights on a diffusers Wan2.1 T2V directory, laid out exactly
like Wan2.1-T2V-1.3B-Diffusers (transformer/, vae/, text_encoder/ umT5, tokenizer/, scheduler/ UniPC), at
tiny size: the loaded pipeline equals one assembled by hand from the same parts."""

from __future__ import annotations

import pytest
import torch
from diffusers import UniPCMultistepScheduler, WanPipeline
from mosa_pipeline_tiny import NUM_FRAMES, shipped_structure, single_threaded, tiny_vae  # noqa: F401
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

from kinevid.errors import MissingWeightsError
from kinevid.models.appearance import MoSAWanTransformer3DModel
from kinevid.motion import Motion
from kinevid.motion.io import sample_motion_path
from kinevid.pipelines import MoSAPipeline
from kinevid.text import load_text_encoder
from tiny_models import tiny_wan_config

TEXT_DIM = 16  # the tiny umT5's width (Wan2.1's umT5-XXL: 4096)
SIZE = 32


def _tokenizer() -> T5TokenizerFast:
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    corpus = ["a man in a red coat walks in a park", "a woman dances on a beach at sunset"] * 5
    trainer = trainers.UnigramTrainer(vocab_size=60, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tokenizer.train_from_iterator(corpus, trainer)
    return T5TokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", extra_ids=0
    )


@pytest.fixture(scope="module")
def wan_and_weights(tmp_path_factory):
    """A tiny `WanPipeline` directory and MoSA weights (non-zero, as if trained) for its transformer."""
    root = tmp_path_factory.mktemp("wan")
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    umt5 = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
        relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
    ))  # fmt: skip
    transformer_config = tiny_wan_config(attention_head_dim=8, in_channels=16, out_channels=16, text_dim=TEXT_DIM)
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


def _call(pipe, motion):
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        "a man in a red coat walks", motion=motion, height=SIZE, width=SIZE, num_frames=NUM_FRAMES,
        num_inference_steps=2, guidance_scale=2.0, generator=torch.Generator().manual_seed(0), output_type="pt",
    )  # fmt: skip


def test_wan_directory_with_mosa_weights_equals_the_hand_assembled_pipeline(wan_and_weights):
    wan_dir, weights_dir, mosa = wan_and_weights
    pipe = MoSAPipeline.from_wan_pretrained(wan_dir, weights_dir, structure=shipped_structure())
    assert isinstance(pipe.scheduler, UniPCMultistepScheduler) and pipe.text_encoder.dim == TEXT_DIM
    assert pipe.config.height == 480 and pipe.config.num_frames == 81  # Wan2.1's sampling defaults
    by_hand = MoSAPipeline(
        mosa, tiny_vae(), load_text_encoder(wan_dir), UniPCMultistepScheduler.from_pretrained(wan_dir / "scheduler"),
        structure=shipped_structure(), text_encoder_name=str(wan_dir),
    )  # fmt: skip
    motion = Motion.load(sample_motion_path()).resample(16.0).slice(0, NUM_FRAMES)
    expected, actual = _call(by_hand, motion), _call(pipe, motion)
    torch.testing.assert_close(actual.frames, expected.frames)


def test_not_a_wan_directory_is_one_clear_error(wan_and_weights, tmp_path):
    _, weights_dir, _ = wan_and_weights
    with pytest.raises(MissingWeightsError, match="WanPipeline"):
        MoSAPipeline.from_wan_pretrained(tmp_path, weights_dir)
