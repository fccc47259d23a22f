"""Latent caches: contents against independent computations, determinism, resume, identity checks, bad input."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from kinevid.cli.main import main
from kinevid.data.cache import (
    CACHE_MANIFEST,
    LatentCacheDataset,
    SyntheticCacheSource,
    build_latent_cache,
    cache_shard_name,
    text_encoder_identity,
)
from kinevid.errors import InvalidInputError
from kinevid.models.vae import encode_video, load_video_vae, pool_to_latent_grid, vae_identity
from kinevid.motion.codecs.echomotion import encode_echomotion

CONTRACT_KEYS = {
    "latents", "text_tokens", "text_mask", "text_pooled", "mask_latent", "skeleton", "tracks", "track_visibility",
    "motion_features", "rotations", "translation", "offsets", "betas", "joints", "camera_intrinsics",
    "camera_rotation", "camera_translation", "caption", "fps", "index",
}  # fmt: skip


@pytest.fixture(scope="module")
def cache_dir(synth, vae, text_encoder, tmp_path_factory):
    output = tmp_path_factory.mktemp("cache")
    return build_latent_cache(synth, output, vae, text_encoder, "minilm", clips_per_shard=2, batch_size=2,
                              show_progress=False)  # fmt: skip


def test_items_match_independent_encodings(synth, vae, text_encoder, cache_dir):
    cache = LatentCacheDataset(cache_dir, expect_vae=vae, expect_text_encoder="minilm")
    assert len(cache) == len(synth) == 5
    captions = [synth[i]["caption"] for i in range(5)]
    text = text_encoder.encode(captions)
    for index in range(5):
        item, clip = cache[index], synth[index]
        assert set(item) == CONTRACT_KEYS
        with torch.no_grad():
            latents = encode_video(vae, clip["video"][None])[0]
        assert item["latents"].shape == (16, 3, 4, 4) and item["latents"].dtype == torch.float32
        torch.testing.assert_close(item["latents"], latents, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(item["mask_latent"], pool_to_latent_grid(clip["mask"][None])[0])
        # Text padded to the cache's longest caption: the real tokens equal a direct encoding.
        assert item["text_tokens"].shape == (cache.text_length, 384) and cache.text_length == text.tokens.shape[1]
        length = int(text.mask[index].sum())
        assert item["text_mask"].dtype == torch.bool and int(item["text_mask"].sum()) == length
        torch.testing.assert_close(item["text_tokens"][:length], text.tokens[index, :length], atol=1e-5, rtol=1e-4)
        assert not item["text_tokens"][length:].any()
        torch.testing.assert_close(item["text_pooled"], text.pooled[index], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(item["motion_features"], encode_echomotion(synth.motion(index)))
        for name in ("skeleton", "tracks", "track_visibility", "joints", "camera_rotation", "camera_intrinsics"):
            torch.testing.assert_close(item[name], clip[name].to(item[name].dtype), msg=name)
        assert item["caption"] == clip["caption"] and item["fps"] == 8.0 and item["index"] == index
    null, expected = cache.null_text(), text_encoder.encode([""])
    length = expected.tokens.shape[1]
    assert null["text_tokens"].shape == (cache.text_length, 384) and int(null["text_mask"].sum()) == length
    torch.testing.assert_close(null["text_tokens"][:length], expected.tokens[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(null["text_pooled"], expected.pooled[0], atol=1e-5, rtol=1e-4)
    batch = torch.utils.data.default_collate([cache[0], cache[3]])
    assert batch["latents"].shape == (2, 16, 3, 4, 4) and batch["text_mask"].shape == (2, cache.text_length)


def test_cache_is_deterministic_resumable_and_independent_of_sharding(synth, vae, text_encoder, cache_dir, tmp_path):
    other = build_latent_cache(synth, tmp_path / "a", vae, text_encoder, "minilm", clips_per_shard=3,
                               batch_size=1, show_progress=False)  # fmt: skip
    reference, resharded = LatentCacheDataset(cache_dir), LatentCacheDataset(other)
    for index in range(5):
        torch.testing.assert_close(resharded[index]["latents"], reference[index]["latents"], atol=1e-5, rtol=1e-5)
    # Resume: a kept shard is not rewritten, a deleted one comes back identical.
    resumed = tmp_path / "b"
    build_latent_cache(synth, resumed, vae, text_encoder, "minilm", clips_per_shard=2, batch_size=2,
                       show_progress=False)  # fmt: skip
    kept = (resumed / cache_shard_name(0)).stat().st_mtime_ns
    (resumed / cache_shard_name(1)).unlink()
    with pytest.raises(InvalidInputError, match="shard missing"):
        LatentCacheDataset(resumed)[2]
    build_latent_cache(synth, resumed, vae, text_encoder, "minilm", clips_per_shard=2, batch_size=2,
                       show_progress=False)  # fmt: skip
    assert (resumed / cache_shard_name(0)).stat().st_mtime_ns == kept
    again = LatentCacheDataset(resumed)
    for index in (2, 3):
        for name, tensor in reference.arrays(index).items():
            assert torch.equal(again.arrays(index)[name], tensor), name


def test_identity_mismatches_are_reported(cache_dir, vae, text_encoder, synth, tmp_path, make_vae_dir):
    manifest = json.loads((cache_dir / CACHE_MANIFEST).read_text())
    assert manifest["vae"] == json.loads(json.dumps(vae_identity(vae)))
    assert manifest["text_encoder"]["name"] == "minilm" == text_encoder_identity(text_encoder)["name"]
    assert manifest["text_encoder"]["weights_sha256"] == text_encoder_identity(text_encoder)["weights_sha256"]
    other_vae = load_video_vae(make_vae_dir(tmp_path / "other_vae", seed=1))
    with pytest.raises(InvalidInputError, match=r"cache\.json: the cache was encoded with another VAE \(same config"):
        LatentCacheDataset(cache_dir, expect_vae=other_vae)
    with pytest.raises(InvalidInputError, match=r"cache\.json: the cache's captions were encoded with text encoder"):
        LatentCacheDataset(cache_dir, expect_text_encoder=str(tmp_path))  # another encoder directory
    with pytest.raises(InvalidInputError, match="expected TextEncoder with weights sha256 000000"):
        LatentCacheDataset(cache_dir, expect_text_encoder={"class": "TextEncoder", "weights_sha256": "0" * 64})
    LatentCacheDataset(cache_dir, expect_vae=vae_identity(vae), expect_text_encoder=text_encoder)
    # Resuming a cache with another VAE is refused before anything is written.
    with pytest.raises(InvalidInputError, match="another VAE"):
        build_latent_cache(synth, cache_dir, other_vae, text_encoder, "minilm", clips_per_shard=2,
                           show_progress=False)  # fmt: skip


def _copy_cache(cache_dir, destination):
    destination.mkdir()
    for path in cache_dir.iterdir():
        (destination / path.name).write_bytes(path.read_bytes())
    return destination


def test_corrupt_and_truncated_shards_name_the_file(cache_dir, tmp_path):
    corrupt = _copy_cache(cache_dir, tmp_path / "corrupt")
    (corrupt / cache_shard_name(1)).write_bytes(b"\x00garbage" * 10)
    with pytest.raises(InvalidInputError, match=rf"{cache_shard_name(1)}: corrupt or truncated cache shard"):
        LatentCacheDataset(corrupt)[2]
    truncated = _copy_cache(cache_dir, tmp_path / "truncated")
    data = (truncated / cache_shard_name(2)).read_bytes()
    (truncated / cache_shard_name(2)).write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInputError, match=rf"{cache_shard_name(2)}: corrupt or truncated cache shard"):
        LatentCacheDataset(truncated)[4]
    LatentCacheDataset(truncated)[0]  # the other shards still read
    # A shard that reads but holds NaN latents is found by `verify`.
    poisoned = _copy_cache(cache_dir, tmp_path / "nan")
    path = poisoned / cache_shard_name(0)
    with safe_open(str(path), framework="pt") as shard:
        tensors, metadata = {name: shard.get_tensor(name) for name in shard.keys()}, shard.metadata()  # noqa: SIM118
    tensors["latents"][1, 0, 0, 0, 0] = float("nan")
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(InvalidInputError, match=rf"{cache_shard_name(0)}: `latents` of clip 1 has NaN"):
        LatentCacheDataset(poisoned).verify(show_progress=False)


def test_bad_sources_and_manifests(tmp_path, cache_dir, vae, text_encoder):
    with pytest.raises(InvalidInputError, match="no cache manifest"):
        LatentCacheDataset(tmp_path)
    (tmp_path / CACHE_MANIFEST).write_text("{not json")
    with pytest.raises(InvalidInputError, match=r"cache\.json: not a readable JSON cache manifest"):
        LatentCacheDataset(tmp_path)
    with pytest.raises(InvalidInputError, match="no manifest"):
        build_latent_cache(tmp_path / "nothing", tmp_path / "out", vae, text_encoder, show_progress=False)


def test_cli_cache_and_errors(synth_dir, vae_dir, tmp_path, capsys):
    output = tmp_path / "cache"
    args = ["data", "cache", str(synth_dir), "-o", str(output), "--vae", str(vae_dir), "--clips-per-shard", "4"]
    assert main(args) == 0
    cache = LatentCacheDataset(output, expect_text_encoder="minilm")
    assert len(cache) == 5 and len(list(output.glob("latents-*.safetensors"))) == 2
    assert main(["data", "check", str(output)]) == 0
    assert "latent cache of 5 clips" in capsys.readouterr().out
    assert main(["data", "check", str(synth_dir)]) == 0
    assert "synthetic dataset of 5 clips" in capsys.readouterr().out
    (output / "latents-00001.safetensors").write_bytes(b"broken")
    assert main(["data", "check", str(output)]) == 1
    assert "latents-00001.safetensors: corrupt or truncated cache shard" in capsys.readouterr().err
    assert main(["data", "cache", str(tmp_path / "missing"), "-o", str(tmp_path / "x"), "--vae", str(vae_dir)]) == 1
    assert "no such dataset or video folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "cache", str(empty), "-o", str(tmp_path / "x"), "--vae", str(vae_dir)]) == 1
    assert f"{empty}: the folder holds no .mp4 videos" in capsys.readouterr().err


class _ShortClipSource(SyntheticCacheSource):
    """The synthetic source with clip 3 cut to 5 frames (a source whose frame counts disagree)."""

    def cache_clip(self, index):
        clip = super().cache_clip(index)
        if index == 3:
            clip.video, clip.mask = clip.video[:, :5], clip.mask[:, :5]
        return clip


def test_mismatched_frame_counts_and_empty_sources_are_reported(synth, vae, text_encoder, tmp_path):
    with pytest.raises(InvalidInputError, match=r"clip 3 \(\d\d_\d\d\): `video` has shape \(3, 5, 32, 32\), expected"):
        build_latent_cache(_ShortClipSource(synth), tmp_path / "a", vae, text_encoder, clips_per_shard=2,
                           show_progress=False)  # fmt: skip
    # The shard before the bad clip was written; the one holding it was not (no half-written shard).
    assert (tmp_path / "a" / cache_shard_name(0)).is_file() and not (tmp_path / "a" / cache_shard_name(1)).exists()
    assert not json.loads((tmp_path / "a" / CACHE_MANIFEST).read_text())["complete"]
    with pytest.raises(InvalidInputError, match="incomplete"):
        LatentCacheDataset(tmp_path / "a")
    empty = type("EmptySource", (SyntheticCacheSource,), {"__len__": lambda self: 0})(synth)
    with pytest.raises(InvalidInputError, match=rf"{synth.root.resolve()}: no clips to cache"):
        build_latent_cache(empty, tmp_path / "b", vae, text_encoder, show_progress=False)
