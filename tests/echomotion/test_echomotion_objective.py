"""Flow matching, guidance formulas and EchoMotion's two-stage training recipe."""

from __future__ import annotations

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from echomotion_tiny import (
    dummy_inputs,
    single_threaded,  # noqa: F401 - autouse fixture
    tiny_echomotion,
)

from kinevid.diffusion import (
    add_noise,
    classifier_free_guidance,
    masked_mean,
    motion_to_video_guidance,
    per_sample_mse,
    sample_sigmas,
    shift_sigmas,
    velocity_target,
)
from kinevid.diffusion.echomotion_training import (
    EchoMotionTrainingConfig,
    EchoMotionTrainingRecipe,
    configure_stage,
    echomotion_training_step,
)
from kinevid.errors import InvalidInputError
from kinevid.models.appearance import is_motion_parameter


def test_shift_matches_diffusers_scheduler():
    # before `set_timesteps` the scheduler holds shift(s) of its training levels s = 1, 0.999, ..., 0.001
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=8.0)
    unshifted = torch.linspace(1.0, 1 / 1000, 1000)
    torch.testing.assert_close(shift_sigmas(unshifted, 8.0), scheduler.sigmas.float(), atol=1e-5, rtol=0)
    assert torch.equal(shift_sigmas(unshifted, 1.0), unshifted)


def test_sample_sigmas_range_shift_and_seed():
    a = sample_sigmas(4096, shift=8.0, generator=torch.Generator().manual_seed(0))
    b = sample_sigmas(4096, shift=8.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    # P(s' <= 0.5) = P(s <= 1 / (k + 1)) = 1/9 for the uniform draw
    assert abs((a <= 0.5).float().mean().item() - 1 / 9) < 0.02
    c = sample_sigmas(4096, distribution="logit_normal", generator=torch.Generator().manual_seed(0))
    assert abs(c.median().item() - 0.5) < 0.03
    with pytest.raises(InvalidInputError, match="distribution"):
        sample_sigmas(2, distribution="cosine")


def test_noise_interpolation_and_target():
    x0, noise = torch.randn(3, 5, 7), torch.randn(3, 5, 7)
    sigmas = torch.tensor([0.0, 0.25, 1.0])
    noisy = add_noise(x0, noise, sigmas)
    torch.testing.assert_close(noisy[0], x0[0])
    torch.testing.assert_close(noisy[1], 0.75 * x0[1] + 0.25 * noise[1])
    torch.testing.assert_close(noisy[2], noise[2])
    # the velocity moves x_s along the path: x_s + (1 - s) v = eps
    torch.testing.assert_close(noisy[1] + 0.75 * velocity_target(x0, noise)[1], noise[1])


def test_per_sample_mse_with_mask_matches_loop():
    prediction, target = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    losses = per_sample_mse(prediction, target, mask)
    for i in range(2):
        errors = [((prediction[i, t] - target[i, t]) ** 2).mean() for t in range(4) if mask[i, t]]
        torch.testing.assert_close(losses[i], torch.stack(errors).mean())


def test_masked_mean_ignores_unselected_samples_even_if_not_finite():
    values = torch.tensor([1.0, float("nan"), 3.0])
    assert masked_mean(values, torch.tensor([True, False, True])).item() == 2.0
    assert masked_mean(values, torch.tensor([False, False, False])).item() == 0.0


def test_guidance_formulas():
    full, motion_only, uncond = torch.tensor([3.0]), torch.tensor([2.0]), torch.tensor([0.5])
    assert classifier_free_guidance(full, uncond, 5.0).item() == 0.5 + 5.0 * 2.5
    # u0 + w1 (uf - um) + w2 (um - u0) by hand: 0.5 + 2 * 1 + 3 * 1.5
    assert motion_to_video_guidance(full, motion_only, uncond, 2.0, 3.0).item() == 7.0
    assert motion_to_video_guidance(full, motion_only, uncond, 1.0, 1.0).item() == 3.0


def _batch(batch_size: int = 2, seed: int = 0) -> dict:
    inputs = dummy_inputs(batch_size=batch_size, seed=seed)
    return {
        "latents": inputs["hidden_states"],
        "motion": inputs["motion_hidden_states"],
        "encoder_hidden_states": inputs["encoder_hidden_states"],
        "negative_encoder_hidden_states": torch.full((5, 16), 0.5),
    }


def _capture_calls(model) -> list[dict]:
    calls = []

    def hook(module, args, kwargs):
        names = ("hidden_states", "timestep", "encoder_hidden_states")
        calls.append({**dict(zip(names, args, strict=False)), **kwargs})

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return calls


def test_stage1_trains_motion_branch_only_without_video_tokens():
    model = tiny_echomotion(seed=1).train()
    trainable = configure_stage(model, 1)
    assert trainable and len(trainable) == len(model.motion_parameters())
    calls = _capture_calls(model)
    batch = _batch()
    del batch["latents"]
    out = echomotion_training_step(model, batch, stage=1, generator=torch.Generator().manual_seed(0))
    out["loss"].backward()
    assert calls[0]["hidden_states"] is None
    for name, parameter in model.named_parameters():
        if is_motion_parameter(name):
            assert parameter.grad is not None, name
        else:
            assert parameter.grad is None and not parameter.requires_grad, name
    assert model.get_parameter("blocks.1.motion_attn1.to_q.weight").grad.abs().sum() > 0


def _run_stage2(probabilities, **overrides):
    model = tiny_echomotion(seed=2)
    calls = _capture_calls(model)
    config = EchoMotionTrainingConfig(task_probabilities=probabilities, **overrides)
    batch = _batch(batch_size=3)
    out = echomotion_training_step(model, batch, 2, config, torch.Generator().manual_seed(0))
    return calls[0], out, batch


def test_stage2_video_to_motion_drops_text_and_keeps_video_clean():
    call, out, batch = _run_stage2((0.0, 0.0, 1.0), video_condition_dropout=0.0)
    assert torch.equal(call["timestep"], torch.zeros(3))
    assert (call["motion_timestep"] > 0).all()
    torch.testing.assert_close(call["hidden_states"], batch["latents"])
    assert (call["encoder_hidden_states"] == 0.5).all()  # the negative prompt, always
    assert out["loss/video"].item() == 0 and out["loss/motion"] > 0 and out["tasks/v2m"].item() == 3
    assert call["video_condition_mask"] is None  # nothing dropped: no mask, mask-free kernels apply
    call, _, _ = _run_stage2((0.0, 0.0, 1.0), video_condition_dropout=1.0)
    assert not call["video_condition_mask"].any()


def test_stage2_motion_to_video_keeps_motion_clean_and_drops_it():
    call, out, batch = _run_stage2((0.0, 1.0, 0.0), text_dropout=0.0, motion_condition_dropout=0.0)
    assert torch.equal(call["motion_timestep"], torch.zeros(3)) and (call["timestep"] > 0).all()
    torch.testing.assert_close(call["motion_hidden_states"], batch["motion"])
    torch.testing.assert_close(call["encoder_hidden_states"], batch["encoder_hidden_states"])
    assert call["motion_attention_mask"] is None and out["loss/motion"].item() == 0
    call, _, _ = _run_stage2((0.0, 1.0, 0.0), text_dropout=1.0, motion_condition_dropout=1.0)
    assert not call["motion_attention_mask"].any() and (call["encoder_hidden_states"] == 0.5).all()


def test_stage2_joint_noises_both_modalities_at_one_level():
    call, out, _ = _run_stage2((1.0, 0.0, 0.0), text_dropout=0.0)
    assert torch.equal(call["timestep"], call["motion_timestep"]) and (call["timestep"] > 0).all()
    assert out["loss/video"] > 0 and out["loss/motion"] > 0
    torch.testing.assert_close(out["loss"], out["loss/video"] + out["loss/motion"])


@pytest.mark.parametrize("stage", [1, 2])
def test_a_batch_without_the_null_text_is_an_error_not_zeros(stage):
    batch = _batch()
    del batch["negative_encoder_hidden_states"]
    with pytest.raises(InvalidInputError, match="null text"):
        echomotion_training_step(tiny_echomotion(), batch, stage, EchoMotionTrainingConfig(text_dropout=1.0))
    with pytest.raises(InvalidInputError, match="null text"):
        echomotion_training_step(
            tiny_echomotion(), {**batch, "negative_encoder_hidden_states": torch.zeros(4, 16)}, stage
        )


def test_recipe_drops_text_to_its_null_text():
    model = tiny_echomotion(seed=4)
    calls = _capture_calls(model)
    null_text = torch.randn(5, 16, generator=torch.Generator().manual_seed(9))
    recipe = EchoMotionTrainingRecipe(model, 1, EchoMotionTrainingConfig(text_dropout=1.0), null_text_embeds=null_text)
    batch = _batch()
    del batch["negative_encoder_hidden_states"]
    recipe.training_step(batch)
    torch.testing.assert_close(calls[0]["encoder_hidden_states"], null_text.expand(2, -1, -1), atol=0, rtol=0)


def test_bad_stage_and_batch_raise():
    model = tiny_echomotion()
    with pytest.raises(InvalidInputError, match="stage"):
        echomotion_training_step(model, _batch(), stage=3)
    batch = _batch()
    del batch["latents"]
    with pytest.raises(InvalidInputError, match="latents"):
        echomotion_training_step(model, batch, stage=2)
    with pytest.raises(InvalidInputError, match="task_probabilities"):
        EchoMotionTrainingConfig(task_probabilities=(1.0, -1.0, 0.0))


@pytest.mark.parametrize("stage", [1, 2])
def test_short_overfit_run_reduces_loss(stage):
    model = tiny_echomotion(seed=3).train()
    config = EchoMotionTrainingConfig(text_dropout=0.0)
    recipe = EchoMotionTrainingRecipe(model, stage, config, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(recipe.trainable_parameters, lr=1e-2)
    batch = _batch(batch_size=2, seed=4)

    def held_out_loss() -> float:  # the same noise, levels and tasks before and after training
        with torch.no_grad():
            losses = [
                echomotion_training_step(model, batch, stage, config, torch.Generator().manual_seed(100 + seed))["loss"]
                for seed in range(4)
            ]
        return torch.stack(losses).mean().item()

    before = held_out_loss()
    for _ in range(25):
        loss = recipe.training_step(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    after = held_out_loss()
    assert after < 0.8 * before, (before, after)


@pytest.mark.parametrize("stage", [1, 2])
def test_padded_motion_frames_do_not_change_the_loss(stage):
    model = tiny_echomotion(seed=6)
    batch = _batch(batch_size=2, seed=7)
    batch["motion_mask"] = torch.tensor([[True] * 5, [True, True, True, False, False]])
    other = {**batch, "motion": batch["motion"].clone()}
    other["motion"][1, 3:] = 100.0  # padding content must not matter
    config = EchoMotionTrainingConfig(task_probabilities=(1.0, 0.0, 0.0))
    with torch.no_grad():
        a = echomotion_training_step(model, batch, stage, config, torch.Generator().manual_seed(0))
        b = echomotion_training_step(model, other, stage, config, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a["loss"], b["loss"])
