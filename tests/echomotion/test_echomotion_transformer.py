"""EchoMotionTransformer3DModel: Wan equivalence, checkpoint loading, joint attention, masking, errors."""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel
from diffusers.models.transformers.transformer_wan import WanTransformerBlock
from echomotion_tiny import (
    TINY_WAN_CONFIG,
    dummy_inputs,
    single_threaded,  # noqa: F401 - autouse fixture
    tiny_echomotion,
    tiny_wan,
)

from kinevid.errors import InvalidInputError
from kinevid.models.appearance import (
    ECHOMOTION_TASKS,
    EchoMotionDualBlock,
    EchoMotionTransformer3DModel,
    is_motion_parameter,
)
from kinevid.models.rope import mvs_motion_positions, rotary_embedding_3d
from kinevid.motion.codecs import MotionNormalizer


def _wan_loaded_echomotion(tmp_path) -> tuple[WanTransformer3DModel, EchoMotionTransformer3DModel, dict]:
    wan = tiny_wan(seed=1)
    wan.save_pretrained(tmp_path / "wan")
    model, info = EchoMotionTransformer3DModel.from_pretrained(tmp_path / "wan", output_loading_info=True)
    return wan, model.eval(), info


def test_video_only_output_equals_wan(tmp_path):
    wan, model, _ = _wan_loaded_echomotion(tmp_path)
    inputs = dummy_inputs(latent_frames=3)
    with torch.no_grad():
        expected = wan(inputs["hidden_states"], inputs["timestep"], inputs["encoder_hidden_states"]).sample
        actual = model(inputs["hidden_states"], inputs["timestep"], inputs["encoder_hidden_states"]).sample
    assert actual.shape == expected.shape == inputs["hidden_states"].shape
    assert (actual - expected).abs().max().item() <= 1e-5


def test_video_only_equals_wan_with_some_plain_blocks(tmp_path):
    wan = tiny_wan(seed=2)
    model = tiny_echomotion(dual_block_indices=[1])
    assert type(model.blocks[0]) is WanTransformerBlock and isinstance(model.blocks[1], EchoMotionDualBlock)
    missing, unexpected = model.load_state_dict(wan.state_dict(), strict=False)
    assert not unexpected and all(is_motion_parameter(name) for name in missing)
    inputs = dummy_inputs()
    with torch.no_grad():
        expected = wan(inputs["hidden_states"], inputs["timestep"], inputs["encoder_hidden_states"]).sample
        actual = model(inputs["hidden_states"], inputs["timestep"], inputs["encoder_hidden_states"]).sample
        joint = model(**inputs)
    assert (actual - expected).abs().max().item() <= 1e-5
    assert torch.isfinite(joint.sample).all() and torch.isfinite(joint.motion_sample).all()


def test_wan_checkpoint_loads_every_video_weight(tmp_path):
    wan, model, info = _wan_loaded_echomotion(tmp_path)
    assert info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    wan_state = wan.state_dict()
    state = model.state_dict()
    for name, tensor in wan_state.items():
        assert torch.equal(state[name], tensor), name
    assert set(info["missing_keys"]) == set(state) - set(wan_state)
    assert info["missing_keys"] and all(is_motion_parameter(name) for name in info["missing_keys"])
    assert not any(p.is_meta for p in model.parameters())
    with torch.no_grad():
        out = model(**dummy_inputs())
    assert torch.isfinite(out.motion_sample).all()


def test_wan_checkpoint_loads_in_bfloat16_with_fp32_modules_kept(tmp_path):
    tiny_wan().save_pretrained(tmp_path / "wan")
    model = EchoMotionTransformer3DModel.from_pretrained(tmp_path / "wan", torch_dtype=torch.bfloat16)
    assert model.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    assert model.blocks[0].motion_attn1.to_q.weight.dtype == torch.bfloat16
    assert model.blocks[0].motion_scale_shift_table.dtype == torch.float32
    assert model.blocks[0].motion_norm2.weight.dtype == torch.float32


def test_save_pretrained_round_trip_keeps_motion_weights_and_normalizer(tmp_path):
    model = tiny_echomotion(seed=3)
    normalizer = MotionNormalizer(torch.randn(235), torch.rand(235) + 0.5)
    model.set_motion_normalizer(normalizer)
    model.save_pretrained(tmp_path / "em")
    loaded = EchoMotionTransformer3DModel.from_pretrained(tmp_path / "em").eval()
    inputs = dummy_inputs()
    with torch.no_grad():
        a, b = model(**inputs), loaded(**inputs)
    assert torch.equal(a.sample, b.sample) and torch.equal(a.motion_sample, b.motion_sample)
    torch.testing.assert_close(loaded.motion_normalizer().mean, normalizer.mean)
    torch.testing.assert_close(loaded.motion_normalizer().std, normalizer.std)


def _independent_rope_angles(positions: torch.Tensor, head_dim: int, theta: float = 10000.0) -> torch.Tensor:
    """Per token and channel the angle of Wan's 3D RoPE, by explicit loops over axes and pairs."""
    h_dim = 2 * (head_dim // 6)
    dims = [head_dim - 2 * h_dim, h_dim, h_dim]
    angles = torch.zeros(positions.shape[0], head_dim, dtype=torch.float64)
    channel = 0
    for axis, dim in enumerate(dims):
        for pair in range(dim // 2):
            frequency = theta ** (-2.0 * pair / dim)
            angles[:, channel] = angles[:, channel + 1] = positions[:, axis].double() * frequency
            channel += 2
    return angles


def test_mvs_rope_matches_independent_computation():
    num_frames, grid_h, grid_w, head_dim = 9, 3, 5, 24
    positions = mvs_motion_positions(num_frames, 51, grid_h, grid_w, temporal_compression=4)
    # token j of frame f at (f / 4, H + j, W + j), frame-major
    f, j = 6, 17
    assert positions[f * 51 + j].tolist() == [1.5, grid_h + j, grid_w + j]
    cos, sin = rotary_embedding_3d(positions, head_dim)
    angles = _independent_rope_angles(positions, head_dim)
    torch.testing.assert_close(cos[0, :, 0].double(), angles.cos(), atol=1e-6, rtol=0)
    torch.testing.assert_close(sin[0, :, 0].double(), angles.sin(), atol=1e-6, rtol=0)


def test_video_rope_matches_wan_table():
    model = tiny_echomotion()
    latents = torch.zeros(1, 4, 3, 6, 8)
    wan_cos, wan_sin = model.rope(latents)
    grid = torch.stack(torch.meshgrid(torch.arange(3), torch.arange(3), torch.arange(4), indexing="ij"), -1)
    cos, sin = rotary_embedding_3d(grid.reshape(-1, 3).float(), TINY_WAN_CONFIG["attention_head_dim"])
    torch.testing.assert_close(cos.float(), wan_cos.float(), atol=1e-6, rtol=0)
    torch.testing.assert_close(sin.float(), wan_sin.float(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("latent_frames,grid_h,grid_w", [(21, 30, 52), (2, 2, 3), (5, 1, 1)])
def test_motion_and_video_positions_never_collide(latent_frames, grid_h, grid_w):
    video = {(t, h, w) for t in range(latent_frames) for h in range(grid_h) for w in range(grid_w)}
    motion_positions = mvs_motion_positions(4 * (latent_frames - 1) + 1, 51, grid_h, grid_w, 4)
    motion = {tuple(p) for p in motion_positions.tolist()}
    assert len(motion) == motion_positions.shape[0]  # every motion token has its own position
    assert not video & motion
    # motion frames 4t share latent frame t's temporal position
    assert motion_positions[4 * 51 * (latent_frames - 1), 0].item() == latent_frames - 1


def _rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """RoPE through complex multiplication of channel pairs; x `(B, S, heads, d)`, angles `(S, d)`."""
    pairs = torch.view_as_complex(x.double().unflatten(-1, (-1, 2)).contiguous())
    rotation = torch.polar(torch.ones_like(angles[:, 0::2]), angles[:, 0::2])[None, :, None, :]
    return torch.view_as_real(pairs * rotation).flatten(-2)


def test_joint_attention_matches_explicit_computation():
    model = tiny_echomotion(seed=4)
    block = model.blocks[0]
    heads = TINY_WAN_CONFIG["num_attention_heads"]
    generator = torch.Generator().manual_seed(0)
    video = torch.randn(2, 12, 24, generator=generator)
    motion = torch.randn(2, 2 * 51, 24, generator=generator)
    video_positions = torch.stack(torch.meshgrid(torch.arange(1), torch.arange(3), torch.arange(4), indexing="ij"), -1)
    video_positions = video_positions.reshape(-1, 3).float()
    motion_positions = mvs_motion_positions(2, 51, 3, 4, 4)
    with torch.no_grad():
        video_out, motion_out = block.joint_attn_processor(
            block.attn1,
            block.motion_attn1,
            video,
            motion,
            rotary_embedding_3d(video_positions, 12),
            rotary_embedding_3d(motion_positions, 12),
        )
        queries, keys, values = [], [], []
        for attn, states, positions in (
            (block.attn1, video, video_positions),
            (block.motion_attn1, motion, motion_positions),
        ):
            angles = _independent_rope_angles(positions, 12)
            queries.append(_rotate(attn.norm_q(attn.to_q(states)).unflatten(2, (heads, -1)), angles))
            keys.append(_rotate(attn.norm_k(attn.to_k(states)).unflatten(2, (heads, -1)), angles))
            values.append(attn.to_v(states).unflatten(2, (heads, -1)).double())
        q, k, v = (torch.cat(parts, 1).transpose(1, 2) for parts in (queries, keys, values))  # (B, heads, S, d)
        weights = torch.softmax(q @ k.transpose(-1, -2) / 12**0.5, dim=-1)
        attended = (weights @ v).transpose(1, 2).flatten(2).float()
        expected_video = block.attn1.to_out[0](attended[:, :12])
        expected_motion = block.motion_attn1.to_out[0](attended[:, 12:])
    torch.testing.assert_close(video_out, expected_video, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(motion_out, expected_motion, atol=1e-5, rtol=1e-4)


def test_gradients_reach_both_branches():
    model = tiny_echomotion(seed=5).train()
    out = model(**dummy_inputs())
    (out.sample.square().mean() + out.motion_sample.square().mean()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
    for name in (
        "patch_embedding.weight",
        "blocks.0.attn1.to_q.weight",
        "blocks.1.ffn.net.2.weight",
        "blocks.0.motion_attn1.to_q.weight",
        "blocks.1.motion_ffn.net.2.weight",
        "motion_embedder.position_embedder.linear_1.weight",
        "motion_embedder.shape_embedder.linear_1.weight",
        "motion_proj_out.rotation_decoder.linear_2.weight",
        "task_embedder.linear_2.weight",  # zero-initialised: its inputs, not yet its own weight, carry gradient
    ):
        assert model.get_parameter(name).grad.abs().sum() > 0, name


def test_video_tokens_see_motion_tokens():
    model = tiny_echomotion(seed=6)
    inputs = dummy_inputs()
    with torch.no_grad():
        a = model(**inputs).sample
        b = model(**{**inputs, "motion_hidden_states": inputs["motion_hidden_states"] + 1.0}).sample
    assert (a - b).abs().max() > 1e-4


def test_gradient_checkpointing_gives_same_output_and_gradients():
    inputs = dummy_inputs()
    results = []
    for checkpointing in (False, True):
        model = tiny_echomotion(seed=7).train()
        if checkpointing:
            model.enable_gradient_checkpointing()
        out = model(**inputs)
        (out.sample.sum() + out.motion_sample.sum()).backward()
        results.append((out.motion_sample.detach(), model.blocks[0].motion_attn1.to_k.weight.grad.clone()))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


def test_motion_only_batch_with_padding_equals_unbatched_calls():
    model = tiny_echomotion(seed=8)
    generator = torch.Generator().manual_seed(1)
    lengths = [5, 9, 3]
    motions = [torch.randn(n, 235, generator=generator) for n in lengths]
    text = torch.randn(3, 5, 16, generator=generator)
    timestep = torch.tensor([100.0, 700.0, 0.0])
    padded = torch.zeros(3, max(lengths), 235)
    mask = torch.zeros(3, max(lengths), dtype=torch.bool)
    for i, motion in enumerate(motions):
        padded[i, : len(motion)] = motion
        padded[i, len(motion) :] = 3.0  # padding values must not leak into real frames
        mask[i, : len(motion)] = True
    with torch.no_grad():
        batched = model(
            None, None, text, motion_hidden_states=padded, motion_timestep=timestep, motion_attention_mask=mask
        ).motion_sample
        for i, motion in enumerate(motions):
            single = model(
                None, None, text[i : i + 1], motion_hidden_states=motion[None], motion_timestep=timestep[i : i + 1]
            )
            torch.testing.assert_close(batched[i, : len(motion)], single.motion_sample[0], atol=1e-5, rtol=1e-5)


def test_joint_batch_with_masks_equals_unbatched_and_dropped_conditions():
    model = tiny_echomotion(seed=9)
    inputs = dummy_inputs(batch_size=3)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1, 3:] = False  # motion annotated on the first 3 frames only
    mask[2] = False  # motion condition dropped
    video_condition = torch.tensor([True, True, True])
    with torch.no_grad():
        batched = model(**inputs, motion_attention_mask=mask, video_condition_mask=video_condition)
        for i in range(2):
            single = model(**{k: v[i : i + 1] for k, v in inputs.items()}, motion_attention_mask=mask[i : i + 1])
            torch.testing.assert_close(batched.sample[i], single.sample[0], atol=1e-5, rtol=1e-5)
            real = mask[i]
            torch.testing.assert_close(
                batched.motion_sample[i, real], single.motion_sample[0, real], atol=1e-5, rtol=1e-5
            )
        # a fully masked motion is the same as no motion: the video-only (Wan) prediction
        video_only = model(inputs["hidden_states"][2:], inputs["timestep"][2:], inputs["encoder_hidden_states"][2:])
        torch.testing.assert_close(batched.sample[2], video_only.sample[0], atol=1e-5, rtol=1e-5)
        # a dropped video condition is the same as a motion-only call
        dropped = model(**inputs, video_condition_mask=torch.tensor([False, True, True]))
        motion_only = model(
            None,
            None,
            inputs["encoder_hidden_states"][:1],
            motion_hidden_states=inputs["motion_hidden_states"][:1],
            motion_timestep=inputs["motion_timestep"][:1],
        )
        torch.testing.assert_close(dropped.motion_sample[0], motion_only.motion_sample[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "change,match",
    [
        ({"hidden_states": torch.randn(2, 3, 2, 4, 6)}, "latents of shape"),
        ({"motion_hidden_states": torch.randn(2, 6, 235)}, r"4k \+ 1"),
        ({"motion_hidden_states": torch.randn(2, 5, 234)}, "235"),
        ({"motion_hidden_states": torch.zeros(2, 5, 235, dtype=torch.long)}, "float"),
        ({"hidden_states": torch.zeros(2, 4, 2, 4, 6, dtype=torch.long)}, "float"),
        ({"hidden_states": torch.randn(2, 4, 2, 5, 6)}, "divisible"),
        ({"timestep": torch.rand(3)}, "one timestep per sample"),
        ({"encoder_hidden_states": torch.randn(2, 5, 8)}, "text_dim"),
    ],
)
def test_bad_inputs_raise_clear_errors(change, match):
    model = tiny_echomotion()
    with pytest.raises(InvalidInputError, match=match):
        model(**{**dummy_inputs(), **change})


def test_bad_masks_raise_clear_errors():
    model = tiny_echomotion()
    with pytest.raises(InvalidInputError, match="motion_attention_mask"):
        model(**dummy_inputs(), motion_attention_mask=torch.ones(2, 5))
    with pytest.raises(InvalidInputError, match="video_condition_mask"):
        model(**dummy_inputs(), video_condition_mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(InvalidInputError, match="hidden_states"):
        model(None, None, torch.randn(1, 5, 16))


def test_joint_attention_goes_through_the_chosen_dispatch_backend(monkeypatch):
    from kinevid.models.appearance import transformer_echomotion

    model = tiny_echomotion(seed=10)
    inputs = dummy_inputs()
    with torch.no_grad():
        default = model(**inputs)
    backends = []
    dispatch = transformer_echomotion.dispatch_attention_fn

    def recording_dispatch(*args, **kwargs):
        backends.append(kwargs["backend"])
        return dispatch(*args, **kwargs)

    monkeypatch.setattr(transformer_echomotion, "dispatch_attention_fn", recording_dispatch)
    model.set_attention_backend("_native_math")
    with torch.no_grad():
        math = model(**inputs)
    assert len(backends) == TINY_WAN_CONFIG["num_layers"]  # one joint attention call per dual block
    assert all(str(getattr(b, "value", b)) == "_native_math" for b in backends)
    torch.testing.assert_close(math.motion_sample, default.motion_sample, atol=1e-5, rtol=1e-5)


def test_fused_qkv_projections_give_the_same_joint_output():
    model = tiny_echomotion(seed=11)
    inputs = dummy_inputs()
    with torch.no_grad():
        separate = model(**inputs)
        model.fuse_qkv_projections()
        assert model.blocks[0].motion_attn1.fused_projections
        fused = model(**inputs)
    torch.testing.assert_close(fused.sample, separate.sample, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fused.motion_sample, separate.motion_sample, atol=1e-6, rtol=1e-5)


def _wan_modulation(wan: WanTransformer3DModel, timestep: torch.Tensor, text: torch.Tensor):
    """Wan's own `(temb (B, D), block modulation (B, 6, D))` for `timestep`."""
    temb, timestep_proj, _, _ = wan.condition_embedder(timestep, text)
    return temb, timestep_proj.unflatten(1, (6, -1))


def _capture_video_modulation(model: EchoMotionTransformer3DModel, monkeypatch) -> dict[str, list]:
    """Record the video modulation every block and the video head receive."""
    seen = {"blocks": [], "head": []}
    for block in model.blocks:
        block.register_forward_pre_hook(lambda module, args: seen["blocks"].append(args[2].clone()))
    video_head = model._video_head

    def head(hidden_states, temb, batch_size, grid):
        seen["head"].append(temb.clone())
        return video_head(hidden_states, temb, batch_size, grid)

    monkeypatch.setattr(model, "_video_head", head)
    return seen


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh", "wan_loaded"])
def test_task_embedding_starts_at_zero_so_video_modulation_is_wans_for_every_task(tmp_path, monkeypatch, fresh):
    if fresh:
        model, wan = tiny_echomotion(seed=11), tiny_wan(seed=1)
        wan.load_state_dict({k: v for k, v in model.state_dict().items() if not is_motion_parameter(k)})
    else:
        wan, model, _ = _wan_loaded_echomotion(tmp_path)
    assert not model.task_embedder.linear_2.weight.any() and not model.task_embedder.linear_2.bias.any()
    inputs = dummy_inputs()
    seen = _capture_video_modulation(model, monkeypatch)
    with torch.no_grad():
        expected_temb, expected_modulation = _wan_modulation(wan, inputs["timestep"], inputs["encoder_hidden_states"])
        video = []
        for task in range(len(ECHOMOTION_TASKS)):
            video.append(model(**inputs, task=torch.full((2,), task)).sample)
    assert len(seen["blocks"]) == len(ECHOMOTION_TASKS) * len(model.blocks)
    for modulation in seen["blocks"]:
        torch.testing.assert_close(modulation, expected_modulation, atol=0, rtol=0)
    for temb in seen["head"]:
        torch.testing.assert_close(temb, expected_temb, atol=0, rtol=0)
    for other in video[1:]:  # the task id alone changes nothing in a fresh model
        assert torch.equal(other, video[0])


def test_with_motion_masked_out_every_task_gives_wans_output(tmp_path):
    wan, model, _ = _wan_loaded_echomotion(tmp_path)
    inputs = dummy_inputs()
    masked = torch.zeros(2, 5, dtype=torch.bool)
    with torch.no_grad():
        expected = wan(inputs["hidden_states"], inputs["timestep"], inputs["encoder_hidden_states"]).sample
        for task in range(len(ECHOMOTION_TASKS)):
            actual = model(**inputs, task=torch.full((2,), task), motion_attention_mask=masked).sample
            assert (actual - expected).abs().max().item() <= 1e-5, ECHOMOTION_TASKS[task]


def test_trained_task_embedding_survives_save_and_load(tmp_path):
    model = tiny_echomotion(seed=12)
    with torch.no_grad():
        model.task_embedder.linear_2.weight.normal_()
        model.task_embedder.linear_2.bias.normal_()
    model.save_pretrained(tmp_path / "em")
    loaded = EchoMotionTransformer3DModel.from_pretrained(tmp_path / "em").eval()
    for name in ("task_embedder.linear_2.weight", "task_embedder.linear_2.bias"):
        assert torch.equal(loaded.get_parameter(name), model.get_parameter(name)), name
    inputs = dummy_inputs()
    with torch.no_grad():
        a = model(**inputs, task=torch.tensor([1, 2])).sample
        b = loaded(**inputs, task=torch.tensor([1, 2])).sample
        c = loaded(**inputs, task=torch.tensor([0, 0])).sample
    assert torch.equal(a, b) and not torch.allclose(b, c)
