"""EchoMotion's training recipes: config reading, stage-1 / stage-2 runs through the Trainer, and the
pipeline they produce (smoke: a tiny dataset of the latent cache's item layout -> stage 1 -> stage 2 ->
`EchoMotionPipeline.from_pretrained` samples)."""

from __future__ import annotations

import argparse
import json
from typing import ClassVar

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan
from echomotion_tiny import single_threaded  # noqa: F401 - autouse fixture

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.models.appearance import EchoMotionTransformer3DModel, is_motion_parameter
from kinevid.models.vae import tiny_vae_config
from kinevid.motion.codecs import MotionNormalizer, encode_echomotion
from kinevid.motion.motion import Motion
from kinevid.pipelines import EchoMotionPipeline
from kinevid.pipelines.pipeline_echomotion import encode_prompt_embeds
from kinevid.recipes.echomotion import EchoMotionBatches, EchoMotionStageConfig, train_echomotion, train_from_cli
from kinevid.text import MiniLMTextEncoder

NUM_FRAMES, HEIGHT, WIDTH, TEXT_LEN = 5, 16, 16, 12
TINY_MODEL = {
    "patch_size": [1, 2, 2],
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 384,
    "freq_dim": 32,
    "ffn_dim": 32,
    "num_layers": 2,
    "rope_max_seq_len": 32,
}
CAPTIONS = ["a person walks forward", "a person jumps", "a person turns left", "a person waves"]


class InMemoryCache(torch.utils.data.Dataset):
    """Clips in `kinevid.data.LatentCacheDataset`'s item layout (the keys the recipe reads)."""

    fps: ClassVar[float] = 16.0
    fields: ClassVar[dict] = {"motion": True, "skeleton": False, "camera": False}

    def __init__(self, captions: list[str], seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        text = MiniLMTextEncoder().encode(captions)
        self.items = []
        for index, caption in enumerate(captions):
            rotations = torch.eye(3).expand(NUM_FRAMES, 24, 3, 3).clone()
            angle = torch.linspace(0, 0.5 * (index + 1), NUM_FRAMES)
            rotations[:, 1, 1, 1], rotations[:, 1, 1, 2] = torch.cos(angle), -torch.sin(angle)
            rotations[:, 1, 2, 1], rotations[:, 1, 2, 2] = torch.sin(angle), torch.cos(angle)
            translation = torch.zeros(NUM_FRAMES, 3)
            translation[:, 2] = torch.linspace(0, 0.3 * (index + 1), NUM_FRAMES)
            motion = Motion(rotations=rotations, translation=translation, fps=self.fps)
            self.items.append(
                {
                    "latents": torch.randn(16, 2, HEIGHT // 8, WIDTH // 8, generator=generator),
                    "text_tokens": text.tokens[index],
                    "text_mask": text.mask[index],
                    "motion_features": encode_echomotion(motion),
                    "caption": caption,
                    "fps": self.fps,
                    "index": index,
                }
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


@pytest.fixture(scope="module")
def cache() -> InMemoryCache:
    return InMemoryCache(CAPTIONS)


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vae") / "vae"
    AutoencoderKLWan(**tiny_vae_config()).save_pretrained(path)
    return path


def _stage_config(stage: int, output_dir, **values) -> dict:
    config = {
        "stage": stage,
        "train": {"max_steps": 3, "batch_size": 2, "learning_rate": 1e-3, "log_every": 1, "checkpoint_every": 3},
        "data": {"cache_dir": "unused-in-memory"},
        "objective": {"text_dropout": 0.5},
        "max_sequence_length": TEXT_LEN,
    }
    if stage == 1:
        config["model"] = {"config": TINY_MODEL}
    config.update(values)
    return config


def _write(tmp_path, name: str, config: dict):
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def test_config_keys_and_stage_rules(tmp_path):
    config = EchoMotionStageConfig.from_dict(_stage_config(1, tmp_path), tmp_path / "run")
    assert config.stage == 1 and config.model.config == TINY_MODEL and config.objective.text_dropout == 0.5
    assert config.to_dict()["objective"]["shift"] == 8.0 and "output_dir" not in config.to_dict()["train"]
    with pytest.raises(InvalidInputError, match="unknown keys"):
        EchoMotionStageConfig.from_dict({**_stage_config(1, tmp_path), "lr": 1}, tmp_path)
    with pytest.raises(InvalidInputError, match="objective"):
        EchoMotionStageConfig.from_dict({**_stage_config(1, tmp_path), "objective": {"dropout": 0.1}}, tmp_path)
    with pytest.raises(InvalidInputError, match="init_from"):
        EchoMotionStageConfig.from_dict(_stage_config(2, tmp_path), tmp_path)
    with pytest.raises(InvalidInputError, match="init_from"):
        EchoMotionStageConfig.from_dict(_stage_config(1, tmp_path, init_from="runs/x"), tmp_path)
    with pytest.raises(InvalidInputError, match=r"leave `model\.pretrained` out"):
        values = _stage_config(2, tmp_path, init_from="x", model={"pretrained": "y"})
        EchoMotionStageConfig.from_dict(values, tmp_path)
    with pytest.raises(InvalidInputError, match="cache_dir"):
        EchoMotionStageConfig.from_dict({**_stage_config(1, tmp_path), "data": {}}, tmp_path)


def test_cli_rejects_a_config_of_the_other_stage(tmp_path):
    path = _write(tmp_path, "stage1.json", _stage_config(1, tmp_path))
    args = argparse.Namespace(
        task="echomotion-stage2", config=path, output=tmp_path / "run", resume=False, max_steps=None, max_trials=None
    )
    with pytest.raises(InvalidInputError, match="stage 2"):
        train_from_cli(args)


def test_batches_normalise_motion_pad_text_and_omit_video_in_stage1(cache):
    normalizer = MotionNormalizer(torch.randn(235), torch.rand(235) + 0.5)
    item = cache[1]
    one = EchoMotionBatches(cache, normalizer, TEXT_LEN, stage=1)[1]
    assert set(one) == {"motion", "encoder_hidden_states"}
    torch.testing.assert_close(one["motion"], (item["motion_features"] - normalizer.mean) / normalizer.std)
    length = int(item["text_mask"].sum())
    assert one["encoder_hidden_states"].shape == (TEXT_LEN, 384)
    torch.testing.assert_close(one["encoder_hidden_states"][:length], item["text_tokens"][:length])
    assert not one["encoder_hidden_states"][length:].any()
    two = EchoMotionBatches(cache, normalizer, TEXT_LEN, stage=2)[1]
    assert torch.equal(two["latents"], item["latents"])


def test_cached_captions_match_the_pipeline_encoding(cache):
    """The cache's tokens (kinevid's MiniLM), padded by the recipe, equal what the pipeline feeds at sampling."""
    encoder = MiniLMTextEncoder()
    batches = EchoMotionBatches(cache, MotionNormalizer(), TEXT_LEN, stage=1)
    sampled = encode_prompt_embeds(encoder.tokenizer, encoder.model, CAPTIONS, TEXT_LEN)
    for index in range(len(CAPTIONS)):
        torch.testing.assert_close(batches[index]["encoder_hidden_states"], sampled[index], atol=1e-5, rtol=1e-4)


def test_stage1_then_stage2_then_the_pipeline_samples(cache, vae_dir, tmp_path):
    # Stage 1: motion only; the video branch must not move
    config1 = EchoMotionStageConfig.load(_write(tmp_path, "s1.json", _stage_config(1, tmp_path)), tmp_path / "em1")
    torch.manual_seed(0)
    initial = EchoMotionTransformer3DModel(**TINY_MODEL).state_dict()
    stage1_dir = train_echomotion(config1, train_set=cache, val_set=cache)
    logs = [json.loads(line) for line in (tmp_path / "em1" / "logs.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logs if "loss/motion" in row] == [1, 2, 3]
    assert "val/loss/motion" in logs[-1] and "loss/video" not in logs[0]
    stage1 = EchoMotionTransformer3DModel.from_pretrained(stage1_dir)
    moved = {name for name, value in stage1.state_dict().items() if not torch.equal(value, initial[name])}
    assert moved and all(is_motion_parameter(name) for name in moved)
    expected = MotionNormalizer.fit(item["motion_features"] for item in cache.items)
    torch.testing.assert_close(stage1.motion_normalizer().mean, expected.mean)
    torch.testing.assert_close(stage1.motion_normalizer().std, expected.std)

    # Stage 2 from stage 1's run directory: multi-task, every parameter trains, the normaliser is kept
    values = _stage_config(2, tmp_path, init_from=str(tmp_path / "em1"), vae=str(vae_dir))
    values["objective"]["task_probabilities"] = [0.4, 0.3, 0.3]
    config2 = EchoMotionStageConfig.load(_write(tmp_path, "s2.json", values), tmp_path / "em2")
    pipeline_dir = train_echomotion(config2, train_set=cache)
    logs = [json.loads(line) for line in (tmp_path / "em2" / "logs.jsonl").read_text().splitlines()]
    assert all({"loss/video", "loss/motion", "tasks/joint", "tasks/m2v", "tasks/v2m"} <= set(row) for row in logs)
    stage2 = EchoMotionTransformer3DModel.from_pretrained(tmp_path / "em2" / "final")
    state1 = stage1.state_dict()
    assert not torch.equal(stage2.state_dict()["blocks.0.attn1.to_q.weight"], state1["blocks.0.attn1.to_q.weight"])
    torch.testing.assert_close(stage2.motion_normalizer().mean, expected.mean)

    # The pipeline: trained transformer, the cache's VAE and text encoder, the training's text length
    pipe = EchoMotionPipeline.from_pretrained(pipeline_dir)
    assert pipe.config.max_sequence_length == TEXT_LEN and pipe.config.fps == cache.fps
    assert pipe.scheduler.config.shift == config2.objective.shift
    for name, tensor in stage2.state_dict().items():
        assert torch.equal(pipe.transformer.state_dict()[name], tensor), name
    options = {"height": HEIGHT, "width": WIDTH, "num_frames": NUM_FRAMES, "num_inference_steps": 2}
    out = pipe("a person jumps", generator=torch.Generator().manual_seed(0), **options)
    assert out.frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3) and np.isfinite(out.frames).all()
    assert out.motion[0].num_frames == NUM_FRAMES and torch.isfinite(out.motion_features).all()
    motion = out.motion[0]
    m2v = pipe("a person jumps", mode="m2v", motion=motion, generator=torch.Generator().manual_seed(0), **options)
    video = torch.from_numpy(out.frames[0]).permute(3, 0, 1, 2)[None] * 2 - 1
    v2m = pipe("", mode="v2m", video=video, generator=torch.Generator().manual_seed(0), **options)
    assert m2v.frames.shape == out.frames.shape and v2m.frames is None and v2m.motion[0].num_frames == NUM_FRAMES


def test_stage2_needs_a_stage1_output(cache, vae_dir, tmp_path):
    values = _stage_config(2, tmp_path, init_from=str(tmp_path / "nothing"), vae=str(vae_dir))
    config = EchoMotionStageConfig.from_dict(values, tmp_path / "em2")
    with pytest.raises(MissingWeightsError, match="echomotion-stage1"):
        train_echomotion(config, train_set=cache)


def test_text_width_must_match_the_transformer(cache, tmp_path):
    values = _stage_config(1, tmp_path, model={"config": {**TINY_MODEL, "text_dim": 16}})
    config = EchoMotionStageConfig.from_dict(values, tmp_path / "em1")
    with pytest.raises(InvalidInputError, match="text_dim"):
        train_echomotion(config, train_set=cache)


@pytest.fixture(scope="module")
def synthetic_cache(cmu_root, vae_dir, tmp_path_factory):
    """A real latent cache (`kinevid.data`) of a tiny synthetic paired set: 4 clips of 9 frames at 32x32."""
    from kinevid.data.cache import build_latent_cache
    from kinevid.data.cmu import CMUMocap
    from kinevid.data.synth import SynthConfig, build_synthetic_dataset
    from kinevid.models.vae import load_video_vae
    from kinevid.text import load_text_encoder

    trials = CMUMocap(cmu_root, trial_ids=["02_01", "05_02"], fps=8, min_frames=9)
    config = SynthConfig(num_clips=4, clips_per_shard=4, num_frames=9, height=32, width=32, num_track_points=4)
    synth = build_synthetic_dataset(trials, tmp_path_factory.mktemp("synth"), config, show_progress=False)
    output = tmp_path_factory.mktemp("cache")
    vae, text_encoder = load_video_vae(vae_dir), load_text_encoder("minilm")
    return build_latent_cache(synth, output, vae, text_encoder, "minilm", clips_per_shard=2, show_progress=False)


def test_cli_stage1_then_stage2_on_a_latent_cache(synthetic_cache, vae_dir, tmp_path):
    from kinevid.cli.main import main
    from kinevid.data import LatentCacheDataset
    from kinevid.motion.codecs import decode_echomotion

    data = {"cache_dir": str(synthetic_cache), "val_cache_dir": str(synthetic_cache), "validation_batches": 1}
    stage1 = _write(tmp_path, "s1.json", _stage_config(1, tmp_path, data=data))
    assert main(["train", "echomotion-stage1", "--config", str(stage1), "--output", str(tmp_path / "em1")]) == 0
    values = _stage_config(2, tmp_path, data=data, init_from=str(tmp_path / "em1"), vae=str(vae_dir))
    stage2 = _write(tmp_path, "s2.json", values)
    assert main(["train", "echomotion-stage2", "--config", str(stage2), "--output", str(tmp_path / "em2")]) == 0

    cache = LatentCacheDataset(synthetic_cache)
    pipe = EchoMotionPipeline.from_pretrained(tmp_path / "em2" / "pipeline")
    expected = MotionNormalizer.fit(cache[i]["motion_features"] for i in range(len(cache)))
    torch.testing.assert_close(pipe.transformer.motion_normalizer().mean, expected.mean)
    assert pipe.config.fps == cache.fps == 8.0 and pipe.config.max_sequence_length == TEXT_LEN
    records = [json.loads(line) for line in (tmp_path / "em2" / "logs.jsonl").read_text().splitlines()]
    assert any("val/loss/video" in record for record in records)
    options = {"height": 32, "width": 32, "num_frames": 9, "num_inference_steps": 2}
    motion = decode_echomotion(cache[0]["motion_features"], cache.fps)
    out = pipe(cache[0]["caption"], mode="m2v", motion=motion, generator=torch.Generator().manual_seed(0), **options)
    assert out.frames.shape == (1, 9, 32, 32, 3) and np.isfinite(out.frames).all()
    # the conditioning motion comes back as given
    torch.testing.assert_close(out.motion_features[0], encode_echomotion(motion), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("stage", [1, 2])
def test_a_resumed_run_has_the_losses_of_an_uninterrupted_one(cache, vae_dir, tmp_path, stage):
    def run(name: str, max_steps: int, resume: bool = False) -> list[float]:
        values = _stage_config(stage, tmp_path, vae=str(vae_dir))
        values["train"].update(max_steps=max_steps, checkpoint_every=2)
        if stage == 2:
            values["init_from"] = str(stage1_dir)
        config = EchoMotionStageConfig.from_dict(values, tmp_path / name)
        config.train.resume = resume
        train_echomotion(config, train_set=cache)
        return [json.loads(line)["loss"] for line in (tmp_path / name / "logs.jsonl").read_text().splitlines()]

    stage1_dir = None
    if stage == 2:
        values = _stage_config(1, tmp_path)
        values["train"]["max_steps"] = 1
        stage1_dir = train_echomotion(EchoMotionStageConfig.from_dict(values, tmp_path / "em1"), train_set=cache)
    uninterrupted = run("full", 4)
    run("resumed", 2)
    resumed = run("resumed", 4, resume=True)
    assert len(uninterrupted) == len(resumed) == 4
    assert resumed == uninterrupted


@pytest.mark.parametrize("split,role", [("test", "train_set"), ("val", "train_set"), ("test", "val_set")])
def test_held_out_subject_splits_are_refused(cache, tmp_path, split, role):
    held_out = InMemoryCache(CAPTIONS[:2])
    held_out.manifest = {"source": {"kind": "synthetic", "config": {"split": split}}}
    config = EchoMotionStageConfig.from_dict(_stage_config(1, tmp_path), tmp_path / "em1")
    datasets = (
        {"train_set": held_out, "val_set": cache} if role == "train_set" else {"train_set": cache, "val_set": held_out}
    )
    with pytest.raises(InvalidInputError, match=f"'{split}' subject split"):
        train_echomotion(config, **datasets)
