"""Synthetic paired data v2: depth, two-part captions with colour names and view, CMU subject splits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from kinevid.cli.main import main
from kinevid.data.captions import (
    COLOR_NAMES,
    action_predicate,
    describe_scene,
    light_side,
    nearest_color_name,
    view_name,
)
from kinevid.data.cmu import CMUMocap, read_cmu_index, split_subjects
from kinevid.data.paired import SyntheticPairedDataset
from kinevid.data.preview import depth_to_frames
from kinevid.data.synth import SynthConfig, build_synthetic_dataset, scene_from_info
from kinevid.errors import InvalidInputError
from kinevid.render import read_video, render_mannequin
from kinevid.render.scene import PALETTE_JITTER, Appearance, Background, Scene, sample_scene

TRIALS = ["02_01", "05_02", "13_29"]


@pytest.fixture(scope="module")
def dataset(cmu_root, tmp_path_factory):
    trials = CMUMocap(cmu_root, trial_ids=TRIALS, fps=8, min_frames=9)
    config = SynthConfig(num_clips=3, clips_per_shard=2, num_frames=9, height=32, width=32, num_track_points=24)
    return SyntheticPairedDataset(build_synthetic_dataset(trials, tmp_path_factory.mktemp("v2"), config, False))


def test_depth_matches_the_camera_depth_of_visible_surface_points(dataset):
    for index in range(len(dataset)):
        item, info = dataset[index], dataset.info(index)
        depth, mask = item["depth"], item["mask"]
        assert depth.shape == (1, 9, 32, 32) and torch.isfinite(depth).all() and (depth >= 0).all()
        assert (depth[mask > 0] > 0.5).all()  # the person stands metres away
        camera = dataset.camera(index)
        points = torch.from_numpy(dataset.arrays(index)["tracks"])  # (T, P, 2) pixels of surface points
        visible = item["track_visibility"]
        # Camera z of the posed surface points, from the stored motion through the renderer's body.
        rendered = render_mannequin(dataset.motion(index), camera, scene_from_info(info), num_track_points=24)
        np.testing.assert_allclose(rendered.tracks, points.numpy(), atol=1e-4)
        _, point_depth = camera.project(torch.from_numpy(rendered.points).double())
        cols = points[..., 0].round().long().clamp(0, 31)
        rows = points[..., 1].round().long().clamp(0, 31)
        frames = torch.arange(9)[:, None].expand_as(cols)
        sampled = depth[0][frames, rows, cols]
        # At the pixel nearest a visible surface point, the depth is that point's (within a capsule's curvature
        # over half a pixel).
        assert visible.sum() > 20
        error = (sampled - point_depth.float())[visible].abs()
        assert float(error.median()) < 0.05


def test_caption_has_action_and_scene_parts(dataset):
    for index in range(len(dataset)):
        item, info = dataset[index], dataset.info(index)
        assert info["action_caption"] in info["texts"]
        assert item["action_caption"] == info["action_caption"] and item["scene_caption"] == info["scene_caption"]
        scene = info["scene"]
        assert info["colors"]["shirt"] == nearest_color_name(scene["appearance"]["shirt"])
        assert info["colors"]["trousers"] == nearest_color_name(scene["appearance"]["trousers"])
        assert info["colors"]["floor"] == nearest_color_name(scene["background"]["ground"])
        caption = item["caption"]
        assert f"{info['colors']['shirt']} shirt and {info['colors']['trousers']} trousers" in caption
        assert caption.endswith(f"seen from the {info['view']}" if info["view"] != "behind" else "seen from behind")
        assert action_predicate(info["action_caption"]) in caption


def test_color_names_are_the_nearest_palette_entry():
    for name, rgb in COLOR_NAMES.items():
        assert nearest_color_name(rgb) == name
    assert nearest_color_name((1.0, 0.0, 0.0)) == "red"
    assert nearest_color_name((0.0, 0.0, 1.0)) == "blue"
    assert nearest_color_name((0.02, 0.6, 0.1)) == "green"
    assert nearest_color_name(np.array([0.9, 0.9, 0.92])) == "white"


def test_view_is_relative_to_the_person_facing():
    person = np.zeros(3)
    # Facing +Z (heading 0): a camera on +Z sees the front, on +X the person's left.
    assert view_name(np.array([0.0, 1.5, 3.0]), person, 0.0) == "front"
    assert view_name(np.array([0.0, 1.5, -3.0]), person, 0.0) == "behind"
    assert view_name(np.array([3.0, 1.5, 0.0]), person, 0.0) == "left"
    assert view_name(np.array([-3.0, 1.5, 0.0]), person, 0.0) == "right"
    # Turned to face +X (heading pi/2): the camera on +X now sees the front, the one on +Z the right side.
    assert view_name(np.array([3.0, 1.5, 0.0]), person, math.pi / 2) == "front"
    assert view_name(np.array([0.0, 1.5, 3.0]), person, math.pi / 2) == "right"
    # A camera looking along -Z (image right = +X, as OpenGL): light from +X is on the image's right.
    forward = np.array([0.0, 0.0, -1.0])
    assert light_side(np.array([1.0, 1.0, 0.0]), forward) == "right"
    assert light_side(np.array([-1.0, 1.0, 0.0]), forward) == "left"
    assert light_side(np.array([0.0, 1.0, 1.0]), forward) == "front"


def test_scene_description_and_action_predicates():
    scene = Scene(Appearance(shirt=(0.8, 0.1, 0.1), trousers=(0.15, 0.3, 0.85), build=0.9),
                  Background(kind="texture", ground=(0.52, 0.52, 0.52)))  # fmt: skip
    description = describe_scene(
        scene, body_scale=1.0, camera_center=np.array([3.0, 1.5, 0.0]),
        camera_forward=np.array([-1.0, 0.0, 0.0]), person_position=np.zeros(3), heading=0.0,
    )  # fmt: skip
    assert description.person == "a slim person in a red shirt and blue trousers"
    assert description.setting.startswith("on a grey checkered floor") and description.setting.endswith(
        "seen from the left"
    )
    assert action_predicate("a person walks") == "walks"
    assert action_predicate("walk forward") == "walks forward"
    assert action_predicate("carry suitcase") == "carries suitcase"
    assert action_predicate("Walking up and down stairs") == "is walking up and down stairs"
    assert action_predicate("russian dance") == "doing: russian dance"


def test_splits_follow_the_structure_branch_subjects(cmu_root, tmp_path):
    index = read_cmu_index(cmu_root)
    subjects = split_subjects(entry.subject for entry in index.values())
    output = tmp_path / "val"
    code = main(["data", "synth", "-o", str(output), "--cmu-root", str(cmu_root), "--split", "val",
                 "--num-clips", "3", "--frames", "5", "--size", "32", "--track-points", "8"])  # fmt: skip
    assert code == 0
    dataset = SyntheticPairedDataset(tmp_path, split="val")  # root/<split> layout
    assert dataset.split == "val" and len(dataset) == 3
    for clip in range(3):
        info = dataset.info(clip)
        assert info["subject"] in subjects["val"] and info["subject"] == index[info["trial_id"]].subject
    with pytest.raises(InvalidInputError, match="'val' split"):
        SyntheticPairedDataset(output, split="test")
    trials = CMUMocap(cmu_root, split="test", fps=8, min_frames=5)
    with pytest.raises(InvalidInputError, match=r"'test' split but `config\.split` says 'train'"):
        build_synthetic_dataset(trials, tmp_path / "x", SynthConfig(num_clips=1, split="train"), False)


def test_preview_video_and_depth_picture(dataset, tmp_path, capsys):
    depth = np.array([[[0.0, 1.0, 2.0, 8.0]]], dtype=np.float32)
    picture = depth_to_frames(depth).astype(int).sum(-1)[0, 0]
    assert picture[0] == 0 and picture[1] > picture[2] > picture[3]  # nothing black, near brighter than far
    output = tmp_path / "preview.mp4"
    assert main(["data", "preview", str(dataset.root), "-o", str(output), "--clips", "0,2", "--tile-size", "32"]) == 0
    frames = read_video(output)
    assert frames.shape[0] == 9 and frames.shape[2] >= 5 * 32  # five panels per row
    assert main(["data", "preview", str(dataset.root), "-o", str(output), "--clips", "7"]) == 1
    assert "the dataset has clips 0..2" in capsys.readouterr().err


def test_palette_scenes_draw_named_colours_and_uniform_scenes_are_unchanged():
    """`sample_scene(palette=...)`: shirt, trousers, floor and wall lie within the jitter of one entry, and the
    caption names that entry; without a palette the draws are exactly the uniform ones (same random stream)."""
    palette = np.array(list(COLOR_NAMES.values()))
    names = list(COLOR_NAMES)
    drawn = set()
    for seed in range(200):
        scene = sample_scene(torch.Generator().manual_seed(seed), palette=list(COLOR_NAMES.values()))
        background = scene.background
        parts = (scene.appearance.shirt, scene.appearance.trousers, background.ground, background.sky_top)
        for color in (*parts, background.sky_bottom):
            distance = np.abs(palette - np.asarray(color)).max(1)
            assert distance.min() <= PALETTE_JITTER + 1e-12
            assert nearest_color_name(color) == names[int(distance.argmin())]
            drawn.add(names[int(distance.argmin())])
        assert nearest_color_name(background.sky_top) == nearest_color_name(background.sky_bottom)  # one wall
    assert len(drawn) == len(names)  # every entry gets drawn
    uniform = sample_scene(torch.Generator().manual_seed(7))
    explicit = sample_scene(torch.Generator().manual_seed(7), palette=None)
    assert uniform == explicit
    with pytest.raises(InvalidInputError, match="palette"):
        sample_scene(torch.Generator().manual_seed(0), palette=[])


def test_palette_datasets_record_the_mode_and_caption_the_drawn_colours(cmu_root, tmp_path):
    trials = CMUMocap(cmu_root, trial_ids=TRIALS, fps=8, min_frames=9)
    config = SynthConfig(num_clips=2, clips_per_shard=2, num_frames=5, height=32, width=32, num_track_points=8,
                         colors="palette")  # fmt: skip
    root = build_synthetic_dataset(trials, tmp_path / "p", config, False)
    assert json.loads((root / "manifest.json").read_text())["config"]["colors"] == "palette"
    dataset = SyntheticPairedDataset(root)
    for index in range(len(dataset)):
        info = dataset.info(index)
        scene = scene_from_info(info)
        assert info["colors"]["shirt"] in info["caption"] and info["colors"]["wall"] in info["caption"]
        shirt = np.array(COLOR_NAMES[info["colors"]["shirt"]])
        assert np.abs(shirt - scene.appearance.shirt).max() <= PALETTE_JITTER + 1e-12
    with pytest.raises(InvalidInputError, match="colors"):
        SynthConfig(colors="random")
