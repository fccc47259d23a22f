"""The real-video path: a folder of mp4 files (+ captions, optional motion npz with a camera) becomes cache shards
with estimated masks and tracks; bad folders give errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinevid.cli.main import main
from kinevid.data.cache import LatentCacheDataset, build_latent_cache
from kinevid.data.cmu import CMUMocap
from kinevid.data.real_video import (
    VideoFolderSource,
    crop_and_resize,
    crop_camera,
    estimate_person_masks,
    select_frames,
)
from kinevid.errors import InvalidInputError
from kinevid.render import render_mannequin, render_skeleton_maps, sample_camera, sample_scene, write_video

FPS = 8.0


@pytest.fixture(scope="module")
def walk(cmu_root):
    """A walking motion at 8 fps (23 frames), a static camera of 64 x 48 pixels and its rendering."""
    motion = CMUMocap(cmu_root, trial_ids=["02_01"], fps=FPS)[0].motion.to(dtype=torch.float32)
    generator = torch.Generator().manual_seed(3)
    camera = sample_camera(motion.joints, 64, 48, generator)
    return motion, camera, render_mannequin(motion, camera, sample_scene(generator), num_track_points=8)


def _write_clip(folder, name, walk, caption="a person walks", with_motion=True, frames=None):
    motion, camera, rendered = walk
    folder.mkdir(exist_ok=True)
    write_video(rendered.rgb if frames is None else frames, folder / f"{name}.mp4", fps=FPS, crf=12)
    (folder / f"{name}.txt").write_text(caption)
    if with_motion:
        motion.save(folder / f"{name}.npz")
        with np.load(folder / f"{name}.npz", allow_pickle=False) as data:
            arrays = dict(data)
        arrays.update(camera_intrinsics=camera.intrinsics.numpy(), camera_rotation=camera.rotation.numpy(),
                      camera_translation=camera.translation.numpy())  # fmt: skip
        np.savez(folder / f"{name}.npz", **arrays)


def test_masks_from_background_subtraction_overlap_the_true_masks(walk):
    _, _, rendered = walk
    masks = estimate_person_masks(rendered.rgb)
    iou = (masks & rendered.mask).sum() / (masks | rendered.mask).sum()
    assert iou > 0.5, iou
    assert masks.mean() < 3 * rendered.mask.mean()


def test_crop_camera_matches_projecting_then_cropping(walk):
    motion, camera, _ = walk  # 64 x 48 -> centre crop 48 x 48 (columns 8..55) -> 32 x 32
    cropped = crop_camera(camera, 48, 64, 32, 32)
    pixels, _ = camera.project(motion.joints.double())
    expected = (pixels - torch.tensor([8.0, 0.0], dtype=torch.float64) + 0.5) * (32 / 48) - 0.5
    torch.testing.assert_close(cropped.project(motion.joints.double())[0], expected)
    frames = crop_and_resize(np.zeros((2, 48, 64, 3), dtype=np.uint8), 32, 32)
    assert frames.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(select_frames(30, 24.0, 8.0, 5), [0, 3, 6, 9, 12])
    with pytest.raises(InvalidInputError, match="has 10 frames at 24 fps"):
        select_frames(10, 24.0, 8.0, 5)


def test_video_folder_becomes_cache_shards(walk, vae, text_encoder, tmp_path):
    folder = tmp_path / "videos"
    _write_clip(folder, "a", walk)
    _write_clip(folder, "b", walk, caption="a person walks forward")
    source = VideoFolderSource(folder, num_frames=9, height=32, width=32, num_track_points=16)
    assert source.fps == FPS and source.fields == {"motion": True, "camera": True, "skeleton": True}
    clip = source.cache_clip(0)
    motion, camera, rendered = walk
    assert clip.video.shape == (3, 9, 32, 32) and clip.caption == "a person walks"
    expected_maps = render_skeleton_maps(motion.joints[:9], crop_camera(camera, 48, 64, 32, 32))[0]
    np.testing.assert_array_equal(clip.skeleton, expected_maps)
    assert clip.track_visibility[0].all() and clip.track_visibility.float().mean() > 0.3
    true_mask = crop_and_resize(rendered.mask[:9, :, :, None].repeat(3, -1).astype(np.uint8) * 255, 32, 32)[..., 0]
    estimated = clip.mask[0].numpy() > 0.5
    assert (estimated & (true_mask > 127)).sum() / (estimated | (true_mask > 127)).sum() > 0.4

    cache = LatentCacheDataset(
        build_latent_cache(source, tmp_path / "cache", vae, text_encoder, "minilm", show_progress=False)
    )
    item = cache[1]
    assert item["skeleton"].shape == (3, 9, 32, 32) and item["motion_features"].shape == (9, 235)
    assert item["caption"] == "a person walks forward" and cache.clip_info(1)["info"]["path"].endswith("b.mp4")
    torch.testing.assert_close(item["joints"], motion.joints[:9], atol=1e-4, rtol=0)

    # Without motion files: no motion, camera or skeleton, flagged in the manifest.
    plain = tmp_path / "plain"
    _write_clip(plain, "a", walk, with_motion=False)
    cache = LatentCacheDataset(
        build_latent_cache(
            VideoFolderSource(plain, 9, 32, 32, num_track_points=16), tmp_path / "plain_cache", vae, text_encoder,
            show_progress=False,
        )
    )  # fmt: skip
    assert cache.fields == {"skeleton": False, "motion": False, "camera": False}
    assert "skeleton" not in cache[0] and "motion_features" not in cache[0] and cache[0]["latents"].shape[0] == 16


def test_cli_caches_a_video_folder(walk, vae_dir, tmp_path):
    _write_clip(tmp_path / "videos", "a", walk, with_motion=False)
    output = tmp_path / "cache"
    args = ["data", "cache", str(tmp_path / "videos"), "-o", str(output), "--vae", str(vae_dir), "--frames", "5",
            "--size", "32", "--track-points", "8"]  # fmt: skip
    assert main(args) == 0
    cache = LatentCacheDataset(output)
    assert cache.geometry["num_frames"] == 5 and cache[0]["tracks"].shape == (5, 8, 2)
    assert cache.manifest["source"]["kind"] == "video-folder" and not cache.fields["motion"]


def test_bad_video_folders_name_the_file(walk, vae, text_encoder, tmp_path):
    with pytest.raises(InvalidInputError, match=r"holds no \.mp4 videos"):
        VideoFolderSource(tmp_path, 9, 32, 32)
    _write_clip(tmp_path / "mixed", "a", walk)
    _write_clip(tmp_path / "mixed", "b", walk, with_motion=False)
    with pytest.raises(InvalidInputError, match=r"exist for some videos but not for \['b.mp4'\]"):
        VideoFolderSource(tmp_path / "mixed", 9, 32, 32)
    _write_clip(tmp_path / "uncaptioned", "a", walk)
    (tmp_path / "uncaptioned" / "a.txt").unlink()
    with pytest.raises(InvalidInputError, match=r"no caption for \['a.mp4'\]"):
        VideoFolderSource(tmp_path / "uncaptioned", 9, 32, 32)
    # A video shorter than the cache's clips.
    _write_clip(tmp_path / "short", "a", walk, with_motion=False, frames=walk[2].rgb[:5])
    with pytest.raises(InvalidInputError, match=r"a\.mp4: has 5 frames at 8 fps .* the cache needs 9"):
        build_latent_cache(VideoFolderSource(tmp_path / "short", 9, 32, 32), tmp_path / "c1", vae, text_encoder,
                           show_progress=False)  # fmt: skip
    # A motion that does not cover its video (mismatched frame counts).
    _write_clip(tmp_path / "mismatch", "a", walk)
    walk[0].slice(0, 12).save(tmp_path / "mismatch" / "a.npz")
    with pytest.raises(InvalidInputError, match=r"a\.npz: the motion has 12 frames at 8 fps but a\.mp4 has 23"):
        build_latent_cache(VideoFolderSource(tmp_path / "mismatch", 9, 32, 32), tmp_path / "c2", vae, text_encoder,
                           show_progress=False)  # fmt: skip
