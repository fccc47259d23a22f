"""MoSATrainingRecipe on a tiny latent cache: loss terms, optimisation, skeleton / text dropout, the tracking
frequency, gradients through the decoded video, the config file, and `kinevid train mosa` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mosa_pipeline_tiny import (
    HEIGHT,
    NUM_FRAMES,
    TINY_MOSA_CONFIG,
    WIDTH,
    cache_with_vae,
    first_batch,
    text_encoder,
    tiny_mosa,
    tiny_pipeline,
    tiny_vae,
)
from torch import nn

from kinevid.data.cache import LatentCacheDataset
from kinevid.errors import InvalidInputError
from kinevid.losses import DenseTracker, MoSALossConfig
from kinevid.pipelines import MoSAPipeline
from kinevid.pipelines.pipeline_mosa import NULL_PROMPT, encode_text
from kinevid.recipes.mosa import MoSAObjectiveConfig, MoSATrainingConfig, MoSATrainingRecipe

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_TOKENS = 64


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> tuple[Path, Path]:
    """(cache directory, VAE directory)."""
    return cache_with_vae(tmp_path_factory.mktemp("mosa_cache"), tiny_vae())


@pytest.fixture(scope="module")
def batch(cache) -> dict:
    return first_batch(cache[0])


def _null_text() -> torch.Tensor:
    return encode_text(text_encoder(), NULL_PROMPT, MAX_TOKENS)[0]


def _recipe(model=None, seed: int = 0, track_every: int = 1, **objective) -> MoSATrainingRecipe:
    return MoSATrainingRecipe(
        model if model is not None else tiny_mosa(),
        tiny_vae(),
        _null_text(),
        MoSAObjectiveConfig(**{"max_sequence_length": MAX_TOKENS, "skeleton_dropout": 0.0, **objective}),
        MoSALossConfig(track_every=track_every),
        DenseTracker(),
        generator=torch.Generator().manual_seed(seed),
    )


class RecordingModel(nn.Module):
    """Forwards to `model` and keeps the arguments and output of every call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.calls: list[tuple[tuple, dict, object]] = []

    def forward(self, *args, **kwargs):
        output = self.model(*args, **kwargs)
        self.calls.append((args, kwargs, output))
        return output


def test_loss_terms_present_and_finite(batch):
    terms = _recipe().training_step(batch)
    for name in ("loss", "diffusion", "mask", "track", "contact"):
        assert name in terms, name
        assert terms[name].ndim == 0 and torch.isfinite(terms[name]), name
    assert terms["loss"].requires_grad and terms["mask"] > 0 and terms["track"] > 0
    expected = terms["diffusion"] + terms["mask"] + 0.1 * terms["track"] + 0.1 * terms["contact"]
    torch.testing.assert_close(terms["loss"], expected)  # MoSALossConfig's default weights


def _optimise(batch, num_steps: int, learning_rate: float, step: int) -> list[float]:
    """Losses of `num_steps` AdamW steps on one batch with the same noise, levels and dropout every step;
    `step` is the recipe's call index (0 = a tracking step, 1 = flow matching and mask only)."""
    model = tiny_mosa().train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    losses = []
    for _ in range(num_steps):
        loss = _recipe(model, seed=0, track_every=2).loss_terms(model, batch, step=step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_optimiser_steps_reduce_the_loss_on_a_fixed_batch(batch):
    losses = _optimise(batch, num_steps=8, learning_rate=2e-3, step=1)  # L_d + L_m
    assert losses[-1] < 0.8 * losses[0], losses
    # With L_track and L_cont (pixels through a random tiny VAE and the tracker: a rougher surface).
    losses = _optimise(batch, num_steps=5, learning_rate=3e-4, step=0)
    assert losses[-1] < losses[0], losses


def test_skeleton_dropout_reaches_the_model(batch):
    model = tiny_mosa()
    recorder = RecordingModel(model)
    for probability, expected in ((1.0, True), (0.0, False)):
        recorder.calls.clear()
        terms = _recipe(recorder, skeleton_dropout=probability).training_step(batch)
        (args, kwargs, output) = recorder.calls[0]
        assert kwargs["skeleton_dropout"].tolist() == [expected, expected]
        torch.testing.assert_close(kwargs["skeleton_video"], batch["skeleton"])
        with torch.no_grad():
            bare = model(*args, skeleton_video=None).sample
        # A dropped skeleton is the "no skeleton" branch of guidance: the bare backbone's output.
        assert torch.allclose(output.sample, bare, atol=1e-6) == expected
        assert terms["dropped/skeleton"] == float(expected)
        if expected:  # no sample saw its skeleton: no mask, tracking or contact supervision
            assert terms["mask"] == 0 and terms["track"] == 0 and terms["contact"] == 0


def test_text_dropout_uses_the_pipelines_null_text(batch):
    recorder = RecordingModel(tiny_mosa())
    _recipe(recorder, text_dropout=1.0).training_step(batch)
    text = recorder.calls[0][0][2]
    pipe = tiny_pipeline(structure=False, max_sequence_length=MAX_TOKENS)
    torch.testing.assert_close(text, pipe.encode_prompt(NULL_PROMPT).expand(2, -1, -1))
    recorder.calls.clear()
    _recipe(recorder, text_dropout=0.0).training_step(batch)
    kept = recorder.calls[0][0][2]
    length = batch["text_tokens"].shape[1]
    torch.testing.assert_close(kept[:, :length], batch["text_tokens"] * batch["text_mask"][..., None])
    assert (kept[:, length:] == 0).all()


def test_track_every_is_respected(batch, monkeypatch):
    recipe = _recipe(track_every=3)
    decodes = []
    decode = recipe.vae.decode
    monkeypatch.setattr(recipe.vae, "decode", lambda *a, **k: decodes.append(recipe.num_calls) or decode(*a, **k))
    tracked = ["track" in recipe.compute_loss(recipe.model, batch) for _ in range(7)]
    assert tracked == [True, False, False, True, False, False, True]
    assert decodes == [1, 4, 7]  # the x0 prediction is decoded on the tracking calls only


def test_tracking_loss_sends_gradients_to_the_dit(batch):
    recipe = _recipe()
    terms = recipe.training_step(batch)
    recipe.model.zero_grad()
    terms["track"].backward()
    grads = [p.grad for p in recipe.model.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().max()) > 0 for g in grads)
    assert all(p.grad is None for p in recipe.vae.parameters())  # the VAE is frozen


def test_batch_without_skeleton_is_an_error(batch):
    incomplete = {key: value for key, value in batch.items() if key != "skeleton"}
    with pytest.raises(InvalidInputError, match="skeleton"):
        _recipe().training_step(incomplete)


# ---------------------------------------------------------------------- config and CLI
def test_shipped_config_loads(tmp_path):
    config = MoSATrainingConfig.load(REPO_ROOT / "configs" / "mosa_synth.json", output_dir=tmp_path)
    assert config.train.output_dir == str(tmp_path)
    assert config.objective.max_sequence_length >= 44  # synthetic captions run to about 44 MiniLM tokens
    assert config.model.config["text_dim"] == 384
    assert config.loss.track_every >= 1


def test_config_errors_name_the_file_and_key(tmp_path):
    values = json.loads((REPO_ROOT / "configs" / "mosa_synth.json").read_text())
    values["objective"]["skeleton_droput"] = 0.1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(values))
    with pytest.raises(InvalidInputError, match=r"bad.json: objective.*skeleton_droput"):
        MoSATrainingConfig.load(path, output_dir=tmp_path / "run")


def _tiny_config(cache_dir: Path, vae_dir: Path, max_steps: int = 3) -> dict:
    return {
        "data": {"cache_dir": str(cache_dir), "val_cache_dir": str(cache_dir), "validation_batches": 1},
        "model": {"config": TINY_MOSA_CONFIG},
        "objective": {"max_sequence_length": MAX_TOKENS},
        "loss": {"track_every": 2},
        "vae": str(vae_dir),
        "train": {
            "max_steps": max_steps,
            "batch_size": 2,
            "learning_rate": 1e-3,
            "log_every": 1,
            "checkpoint_every": 2,
            "num_threads": 1,
        },
    }


def test_kinevid_train_mosa_end_to_end(cache, tmp_path, capsys):
    from kinevid.cli.main import main

    cache_dir, vae_dir = cache
    config_path = tmp_path / "mosa.json"
    config_path.write_text(json.dumps(_tiny_config(cache_dir, vae_dir)))
    output = tmp_path / "run"
    assert main(["train", "mosa", "--config", str(config_path), "--output", str(output)]) == 0
    assert "trained pipeline" in capsys.readouterr().out
    logs = [json.loads(line) for line in (output / "logs.jsonl").read_text().splitlines()]
    train_logs = [record for record in logs if "loss" in record]
    assert [record["step"] for record in train_logs] == [1, 2, 3]
    assert ["track" in record for record in train_logs] == [True, False, True]  # track_every 2
    assert any("val/loss" in record for record in logs)
    pipe = MoSAPipeline.from_pretrained(output / "pipeline", text_encoder=text_encoder())
    assert pipe.config.max_sequence_length == MAX_TOKENS and pipe.config.fps == 8.0
    dataset = LatentCacheDataset(cache_dir)
    out = pipe(
        "a person walks", skeleton_video=dataset[0]["skeleton"], height=HEIGHT, width=WIDTH,
        num_frames=NUM_FRAMES, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert out.frames.shape == (1, NUM_FRAMES, HEIGHT, WIDTH, 3)
    # Resume to a later step continues the run from its last checkpoint.
    assert main(["train", "mosa", "--config", str(config_path), "--output", str(output), "--resume",
                 "--max-steps", "4"]) == 0  # fmt: skip
    logs = [json.loads(line) for line in (output / "logs.jsonl").read_text().splitlines()]
    resumed = [record for record in logs if record["step"] == 4 and "loss" in record]
    assert len(resumed) == 1
    assert "track" not in resumed[0]  # call 3 of the run (3 % 2 != 0), not call 0 of a fresh recipe


def test_kinevid_train_mosa_rejects_a_cache_of_another_vae(cache, tmp_path, capsys):
    from kinevid.cli.main import main

    cache_dir, _ = cache
    other = tiny_vae(seed=1)
    other.save_pretrained(tmp_path / "other_vae")
    config_path = tmp_path / "mosa.json"
    config_path.write_text(json.dumps(_tiny_config(cache_dir, tmp_path / "other_vae")))
    assert main(["train", "mosa", "--config", str(config_path), "--output", str(tmp_path / "run")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("kinevid train: error:") and "cache.json" in error and "\n" not in error


@pytest.mark.parametrize("bad", [None, "x", [1], -1, True])
def test_every_config_value_of_the_wrong_kind_is_a_clear_error(tmp_path, bad):
    """Each value of the recipe's own sections (and the top-level names), replaced by a value of another kind,
    is an `InvalidInputError` naming the file (or loads, when the replacement happens to be valid)."""
    base = json.loads((REPO_ROOT / "configs" / "mosa_synth.json").read_text())
    places = [(section, key) for section in ("data", "model", "objective", "loss") for key in base[section]]
    places += [(None, key) for key in ("vae", "text_encoder", "structure")]
    path = tmp_path / "mosa.json"
    for section, key in places:
        values = json.loads(json.dumps(base))
        (values[section] if section else values)[key] = bad
        path.write_text(json.dumps(values))
        try:
            MoSATrainingConfig.load(path, output_dir=tmp_path / "run")
        except InvalidInputError as error:
            assert str(path) in str(error) and "\n" not in str(error), (section, key, error)
