"""MotionPrimitiveDiffusionModel: shapes, conditioning masks, save/load round trip, size."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from kinevid.models.structure import MotionPrimitiveDiffusionModel

REPO_ROOT = Path(__file__).resolve().parents[2]


def tiny_model(**overrides) -> MotionPrimitiveDiffusionModel:
    torch.manual_seed(0)
    config = dict(num_history_frames=2, num_future_frames=4, hidden_dim=24, num_layers=2, num_heads=2, dropout=0.0)
    config.update(overrides)
    model = MotionPrimitiveDiffusionModel(**config)
    # The output head is zero-initialised (prediction 0 = the feature mean); perturb it so tests see signal.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


def dummy_inputs(batch_size: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(batch_size, 4, 223, generator=generator),
        "timestep": torch.randint(0, 1000, (batch_size,), generator=generator),
        "history": torch.randn(batch_size, 2, 223, generator=generator),
        "history_mask": torch.tensor([True, False, True])[:batch_size],
        "text_embeds": torch.randn(batch_size, 384, generator=generator),
        "text_mask": torch.tensor([True, True, False])[:batch_size],
    }


def test_output_shape_and_zero_initialised_head():
    inputs = dummy_inputs()
    fresh = MotionPrimitiveDiffusionModel(
        num_history_frames=2, num_future_frames=4, hidden_dim=24, num_layers=1, num_heads=2
    )
    assert torch.equal(fresh(**inputs), torch.zeros(3, 4, 223))
    output = tiny_model()(**inputs)
    assert output.shape == (3, 4, 223) and torch.isfinite(output).all()


def test_masked_conditions_are_ignored():
    model = tiny_model()
    inputs = dummy_inputs()
    reference = model(**inputs)
    changed = dict(inputs)
    changed["history"] = inputs["history"] + 5.0  # only sample 1 has no history
    changed["text_embeds"] = inputs["text_embeds"] * -3.0  # only sample 2 has no text
    output = model(**changed)
    torch.testing.assert_close(output[1][None], model(**{k: v[1:2] for k, v in changed.items()}), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(output[0], reference[0])  # sees both changes
    # Sample 1: text changed but used, history changed but masked -> equals a run with only the text change.
    text_only = dict(inputs, text_embeds=changed["text_embeds"])
    torch.testing.assert_close(output[1], model(**text_only)[1], atol=1e-5, rtol=1e-5)
    # Sample 2: history changed and used, text masked -> equals a run with only the history change.
    history_only = dict(inputs, history=changed["history"])
    torch.testing.assert_close(output[2], model(**history_only)[2], atol=1e-5, rtol=1e-5)


def test_batch_independence_and_scalar_timestep():
    model = tiny_model()
    inputs = dummy_inputs()
    inputs["timestep"] = torch.full((3,), 500)
    batched = model(**inputs)
    single = model(**{k: v[2:3] for k, v in inputs.items()})
    torch.testing.assert_close(batched[2:3], single, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(**dict(inputs, timestep=torch.tensor(500))), batched)


def test_save_and_load_round_trip_keeps_buffers(tmp_path):
    model = tiny_model()
    model.feature_mean.copy_(torch.linspace(-1, 1, 223))
    model.feature_std.copy_(torch.linspace(0.5, 2, 223))
    model.body_offsets.mul_(1.1)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = MotionPrimitiveDiffusionModel.from_pretrained(tmp_path).eval()
    inputs = dummy_inputs()
    torch.testing.assert_close(loaded(**inputs), model(**inputs), atol=0, rtol=0)
    for name in ("feature_mean", "feature_std", "body_offsets"):
        torch.testing.assert_close(getattr(loaded, name), getattr(model, name), atol=0, rtol=0)
    features = torch.randn(2, 5, 223)
    torch.testing.assert_close(loaded.denormalize(loaded.normalize(features)), features, atol=1e-5, rtol=1e-5)


def test_shipped_configuration_is_small():
    config = json.loads((REPO_ROOT / "configs" / "structure_cmu.json").read_text())["model"]
    model = MotionPrimitiveDiffusionModel(**config)
    size_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert size_bytes <= 20 * 1024 * 1024


def test_text_norm_puts_sentence_embeddings_on_the_timestep_scale():
    """Unit-norm sentence embeddings barely move a fresh model's conditioning unless normalised first."""
    texts = torch.nn.functional.normalize(torch.randn(8, 384, generator=torch.Generator().manual_seed(0)), dim=-1)
    timesteps = torch.arange(0, 1000, 125)

    def text_spread_over_timestep_scale(model: MotionPrimitiveDiffusionModel) -> float:
        with torch.no_grad():
            text = model.text_embedding(model.text_input_norm(texts))
            temb = model.time_embedding(model.time_proj(timesteps))
        return float(torch.cdist(text, text).mean() / temb.norm(dim=-1).mean())

    torch.manual_seed(0)
    assert text_spread_over_timestep_scale(MotionPrimitiveDiffusionModel(text_norm=False)) < 0.2
    torch.manual_seed(0)
    normalised = MotionPrimitiveDiffusionModel(text_norm=True)
    assert text_spread_over_timestep_scale(normalised) > 0.5
    # The LayerNorm is part of the weights a checkpoint saves.
    assert {"text_input_norm.weight", "text_input_norm.bias"} <= set(normalised.state_dict())
