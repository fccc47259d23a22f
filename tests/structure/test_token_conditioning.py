"""MotionPrimitiveDiffusionModel with `text_conditioning="tokens"`: cross-attention to text tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kinevid.models.structure import MotionPrimitiveDiffusionModel

DATA = Path(__file__).parent / "data"
TINY = dict(num_history_frames=2, num_future_frames=4, hidden_dim=24, num_layers=2, num_heads=2, dropout=0.0)


def perturbed(model: MotionPrimitiveDiffusionModel, seed: int = 1) -> MotionPrimitiveDiffusionModel:
    """The zero-initialised output layers (head, gates, cross-attention outputs) moved off zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def token_model(**overrides) -> MotionPrimitiveDiffusionModel:
    torch.manual_seed(0)
    return perturbed(MotionPrimitiveDiffusionModel(**{**TINY, "text_conditioning": "tokens", **overrides}))


def token_inputs(batch_size: int = 3, num_tokens: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch_size, num_tokens, dtype=torch.bool)
    mask[0, 4:] = False  # prompt 0 has 4 real tokens, the others 7
    return {
        "sample": torch.randn(batch_size, 4, 223, generator=generator),
        "timestep": torch.randint(0, 1000, (batch_size,), generator=generator),
        "history": torch.randn(batch_size, 2, 223, generator=generator),
        "history_mask": torch.ones(batch_size, dtype=torch.bool),
        "text_embeds": torch.randn(batch_size, 384, generator=generator),
        "text_mask": torch.tensor([True, True, False])[:batch_size],
        "text_tokens": torch.randn(batch_size, num_tokens, 384, generator=generator),
        "text_token_mask": mask,
    }


@torch.no_grad()
def test_pooled_default_matches_the_model_before_the_option():
    """The reference output was computed by the code before `text_conditioning` existed, same seeds."""
    reference = load_file(DATA / "pooled_model_reference.safetensors")
    torch.manual_seed(0)
    model = MotionPrimitiveDiffusionModel(**TINY, text_norm=True)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    assert model.config.text_conditioning == "pooled"
    assert not any("cross_attention" in name or "token" in name for name, _ in model.named_parameters())
    inputs = {name: value for name, value in reference.items() if name != "expected"}
    # Not bitwise: the reference was stored on another CPU, and BLAS kernels differ in the last bits.
    torch.testing.assert_close(model.eval()(**inputs), reference["expected"], rtol=0, atol=1e-6)
    # Tokens given to a pooled model are ignored.
    tokens = torch.randn(3, 5, 384)
    torch.testing.assert_close(model(**inputs, text_tokens=tokens), reference["expected"], rtol=0, atol=1e-6)


@torch.no_grad()
def test_shapes_and_small_parameter_budget():
    model = token_model()
    output = model(**token_inputs())
    assert output.shape == (3, 4, 223) and torch.isfinite(output).all()
    shipped_size = dict(TINY, hidden_dim=192, num_layers=4, num_heads=4)
    pooled = MotionPrimitiveDiffusionModel(**shipped_size)
    tokens = MotionPrimitiveDiffusionModel(**shipped_size, text_conditioning="tokens")
    extra = sum(p.numel() for p in tokens.parameters()) - sum(p.numel() for p in pooled.parameters())
    assert 100_000 < extra < 200_000  # < 0.4 MB in fp16: the shipped weights stay within 40 MB in total


@torch.no_grad()
def test_zero_initialised_cross_attention_starts_as_the_pooled_model():
    torch.manual_seed(0)
    pooled = perturbed(MotionPrimitiveDiffusionModel(**TINY))
    tokens = MotionPrimitiveDiffusionModel(**TINY, text_conditioning="tokens")
    missing, unexpected = tokens.load_state_dict(pooled.state_dict(), strict=False)
    assert not unexpected and all("cross_attention" in n or "token" in n for n in missing)
    inputs = token_inputs()
    pooled_inputs = {k: v for k, v in inputs.items() if not k.startswith("text_token")}
    torch.testing.assert_close(tokens.eval()(**inputs), pooled(**pooled_inputs), rtol=0, atol=1e-6)


@torch.no_grad()
def test_padded_tokens_change_nothing_and_real_tokens_do():
    model = token_model()
    inputs = token_inputs()
    reference = model(**inputs)
    padded = dict(inputs, text_tokens=inputs["text_tokens"].clone())
    padded["text_tokens"][0, 4:] = float("nan")  # even NaN padding cannot leak
    assert torch.equal(model(**padded)[0], reference[0])
    # Cutting the padding off gives the same output (up to float rounding).
    cut = {k: (v[:1, :4] if k.startswith("text_token") else v[:1]) for k, v in inputs.items()}
    torch.testing.assert_close(model(**cut), reference[:1], rtol=1e-5, atol=1e-5)
    real = dict(inputs, text_tokens=inputs["text_tokens"].clone())
    real["text_tokens"][0, 1] = torch.randn(384, generator=torch.Generator().manual_seed(5))
    assert not torch.allclose(model(**real)[0], reference[0], atol=1e-4)
    # Without a mask every token is real.
    unmasked = {k: v for k, v in inputs.items() if k != "text_token_mask"}
    assert not torch.allclose(model(**unmasked)[0], reference[0], atol=1e-4)
    torch.testing.assert_close(model(**unmasked)[1:], reference[1:])


@torch.no_grad()
def test_dropped_text_drops_pooled_and_tokens():
    """A text-dropped sample (text_mask False) sees only the null embedding and the null token."""
    model = token_model()
    inputs = token_inputs()
    reference = model(**inputs)[2]
    changed = dict(inputs)
    changed["text_embeds"] = torch.randn(3, 384)
    changed["text_tokens"] = torch.randn(3, 9, 384)
    changed["text_token_mask"] = torch.zeros(3, 9, dtype=torch.bool)  # all padding is fine too
    torch.testing.assert_close(model(**changed)[2], reference, rtol=1e-5, atol=1e-6)
    # The tokens matter for a conditioned sample even with the pooled embedding fixed (cross-attention
    # is order-free: MiniLM's token states carry their positions).
    other = dict(inputs, text_tokens=torch.randn(3, 7, 384, generator=torch.Generator().manual_seed(6)))
    assert not torch.allclose(model(**other)[1], model(**inputs)[1], atol=1e-4)
    flipped = dict(inputs, text_tokens=inputs["text_tokens"].flip(1))  # rows 1, 2 have no padding
    torch.testing.assert_close(model(**flipped)[1:], model(**inputs)[1:], rtol=1e-5, atol=1e-6)


def test_token_model_needs_tokens_and_rejects_unknown_mode():
    model = token_model()
    inputs = {k: v for k, v in token_inputs().items() if not k.startswith("text_token")}
    with pytest.raises(ValueError, match="text_tokens"):
        model(**inputs)
    with pytest.raises(ValueError, match="text_conditioning"):
        MotionPrimitiveDiffusionModel(**TINY, text_conditioning="words")
    with pytest.raises(ValueError, match="cross_attention_dim"):
        MotionPrimitiveDiffusionModel(
            **TINY, text_conditioning="tokens", cross_attention_dim=30, cross_attention_heads=4
        )


def test_token_model_trains_its_cross_attention_and_round_trips(tmp_path):
    model = token_model().train()
    inputs = token_inputs()
    model(**inputs).square().mean().backward()
    gradients = {name: p.grad for name, p in model.named_parameters()}
    assert gradients["blocks.0.cross_attention.to_out.weight"].abs().sum() > 0
    assert gradients["text_token_proj.1.weight"].abs().sum() > 0
    assert gradients["null_text_token"].abs().sum() > 0
    model.save_pretrained(tmp_path)
    loaded = MotionPrimitiveDiffusionModel.from_pretrained(tmp_path).eval()
    assert loaded.config.text_conditioning == "tokens"
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs), model.eval()(**inputs))


def test_pooled_mask_drops_only_the_pooled_embedding():
    """`pooled_mask` False: the pooled embedding is replaced by the null one, the tokens still count."""
    model = token_model()
    inputs = dict(token_inputs(), text_mask=torch.ones(3, dtype=torch.bool))
    no_pooled = dict(inputs, pooled_mask=torch.zeros(3, dtype=torch.bool))
    other_pooled = dict(no_pooled, text_embeds=torch.randn(3, 384, generator=torch.Generator().manual_seed(3)))
    torch.testing.assert_close(model(**other_pooled), model(**no_pooled), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(model(**no_pooled), model(**inputs), atol=1e-4)  # it did drop something
    other_tokens = dict(no_pooled, text_tokens=torch.randn(3, 7, 384, generator=torch.Generator().manual_seed(4)))
    assert not torch.allclose(model(**other_tokens), model(**no_pooled), atol=1e-4)
    # The default (None) is text_mask, and text_mask False still drops both.
    torch.testing.assert_close(model(**dict(inputs, pooled_mask=torch.ones(3, dtype=torch.bool))), model(**inputs))
    dropped = dict(inputs, text_mask=torch.tensor([True, True, False]))
    torch.testing.assert_close(model(**dict(dropped, pooled_mask=torch.ones(3, dtype=torch.bool))), model(**dropped))


def test_loss_with_pooled_drop_reads_only_the_tokens():
    """`loss.pooled_drop_prob` 1: the training loss no longer depends on the pooled prompt embeddings."""
    from test_structure_loss import static_batch

    from kinevid.errors import InvalidInputError
    from kinevid.recipes.structure import DiffusionConfig, LossConfig, PromptTokens, StructureLoss

    model = token_model(num_history_frames=2, num_future_frames=4)
    generator = torch.Generator().manual_seed(5)
    tokens = PromptTokens(torch.randn(1, 5, 384, generator=generator), torch.ones(1, 5, dtype=torch.bool))
    batch = dict(static_batch(), prompt_index=torch.tensor([0, 0]))

    def loss(pooled: torch.Tensor, drop: float) -> torch.Tensor:
        objective = StructureLoss(
            DiffusionConfig().training_scheduler(), pooled, LossConfig(text_drop_prob=0.0, pooled_drop_prob=drop),
            12.0, prompt_tokens=tokens,
        )  # fmt: skip
        torch.manual_seed(0)
        with torch.no_grad():
            return objective(model, batch)["diffusion"]

    first, second = torch.randn(1, 384, generator=generator), torch.randn(1, 384, generator=generator)
    torch.testing.assert_close(loss(first, 1.0), loss(second, 1.0))
    assert not torch.allclose(loss(first, 0.0), loss(second, 0.0))
    pooled_model = MotionPrimitiveDiffusionModel(**TINY)
    objective = StructureLoss(DiffusionConfig().training_scheduler(), first, LossConfig(pooled_drop_prob=0.5), 12.0)
    with pytest.raises(InvalidInputError, match="pooled_drop_prob needs a token model"):
        objective(pooled_model, batch)
