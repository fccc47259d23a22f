"""npz motion files: AMASS/SMPL layout, kinevid extras, errors, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from kinevid.body import SMPL24, default_offsets
from kinevid.errors import InvalidInputError, MotionFileError
from kinevid.motion import Motion
from kinevid.motion.io import load_motion, save_motion


def _random_motion(num_frames: int = 12, dtype: torch.dtype = torch.float32, seed: int = 0) -> Motion:
    generator = torch.Generator().manual_seed(seed)
    axis_angle = torch.randn(num_frames, 24, 3, generator=generator, dtype=torch.float64) * 0.5
    rotations = torch.as_tensor(Rotation.from_rotvec(axis_angle.reshape(-1, 3).numpy()).as_matrix()).reshape(
        num_frames, 24, 3, 3
    )
    offsets = default_offsets(torch.float64) * 1.1
    offsets[0] = torch.tensor([0.01, -0.02, 0.03], dtype=torch.float64)
    return Motion(
        rotations=rotations.to(dtype),
        translation=torch.randn(num_frames, 3, generator=generator, dtype=torch.float64).to(dtype),
        fps=29.97,
        offsets=offsets.to(dtype),
        betas=torch.linspace(-1, 1, 10, dtype=dtype),
    )


def _reference_joints(poses: np.ndarray, trans: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """FK one joint at a time with scipy's axis-angle conversion."""
    num_frames = poses.shape[0]
    matrices = Rotation.from_rotvec(poses[:, :72].reshape(-1, 3)).as_matrix().reshape(num_frames, 24, 3, 3)
    joints = np.zeros((num_frames, 24, 3))
    for t in range(num_frames):
        world = [None] * 24
        for j, parent in enumerate(SMPL24.parents):
            if parent < 0:
                world[j] = matrices[t, j]
                joints[t, j] = trans[t] + offsets[0]
            else:
                world[j] = world[parent] @ matrices[t, j]
                joints[t, j] = joints[t, parent] + world[parent] @ offsets[j]
    return joints


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_keeps_joints(tmp_path, dtype):
    motion = _random_motion(dtype=dtype)
    save_motion(motion, tmp_path / "motion.npz")
    reloaded = load_motion(tmp_path / "motion.npz")
    assert reloaded.dtype == dtype and reloaded.fps == pytest.approx(29.97)
    atol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(reloaded.joints, motion.joints, atol=atol, rtol=0)
    torch.testing.assert_close(reloaded.offsets, motion.offsets, atol=0, rtol=0)
    torch.testing.assert_close(reloaded.betas, motion.betas, atol=0, rtol=0)
    # The file is the AMASS layout: check it with numpy alone.
    with np.load(tmp_path / "motion.npz", allow_pickle=False) as data:
        assert data["poses"].shape == (12, 72) and data["trans"].shape == (12, 3) and data["betas"].shape == (10,)
        assert float(data["mocap_framerate"]) == pytest.approx(29.97)
        assert int(data["kinevid_format_version"]) == 1
        joints = _reference_joints(data["poses"], data["trans"], data["kinevid_offsets"])
    np.testing.assert_allclose(reloaded.joints.double().numpy(), joints, atol=atol * 10)


def test_amass_file_without_extras_loads_with_default_body(tmp_path):
    rng = np.random.default_rng(0)
    poses = rng.normal(scale=0.3, size=(7, 156))  # SMPL-H: body + hands
    trans = rng.normal(size=(7, 3))
    np.savez(
        tmp_path / "amass.npz", poses=poses, trans=trans, betas=rng.normal(size=16), mocap_framerate=np.array(120.0),
        gender=np.array("female"), dmpls=rng.normal(size=(7, 8)),
    )  # fmt: skip
    motion = load_motion(tmp_path / "amass.npz")
    assert motion.num_frames == 7 and motion.fps == 120.0
    assert motion.betas.shape == (10,)
    joints = _reference_joints(poses, trans, default_offsets(torch.float64).numpy())
    np.testing.assert_allclose(motion.joints.double().numpy(), joints, atol=1e-10)
    np.testing.assert_allclose(motion.joints[:, 0].numpy(), trans)  # pelvis at `trans`


def _write(tmp_path, name="bad.npz", **arrays):
    base = {
        "poses": np.zeros((4, 72)), "trans": np.zeros((4, 3)), "betas": np.zeros(10),
        "mocap_framerate": np.array(30.0),
    }  # fmt: skip
    base.update(arrays)
    path = tmp_path / name
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


@pytest.mark.parametrize(
    ("arrays", "pattern"),
    [
        ({"poses": None}, r"missing key `poses`; expected an array of shape \(T, 72\)"),
        ({"poses": np.zeros((4, 70))}, r"`poses` has shape \(4, 70\); expected \(T, 72\)"),
        ({"trans": np.zeros((5, 3))}, r"`trans` has shape \(5, 3\); expected \(4, 3\)"),
        ({"trans": None}, r"missing key `trans`"),
        ({"betas": np.zeros(8)}, r"`betas` has shape \(8,\); expected \(10,\)"),
        ({"mocap_framerate": None}, r"missing key `mocap_framerate`"),
        ({"mocap_framerate": np.array(-1.0)}, r"`mocap_framerate` is -1.0; expected one positive number"),
        ({"kinevid_offsets": np.zeros((23, 3))}, r"`kinevid_offsets` has shape \(23, 3\); expected \(24, 3\)"),
        ({"poses": np.array(["a"] * 4)}, r"`poses` has dtype <U1; expected a numeric array"),
    ],
)
def test_malformed_npz_names_key_and_shape(tmp_path, arrays, pattern):
    path = _write(tmp_path, **arrays)
    with pytest.raises(MotionFileError, match=pattern) as error:
        load_motion(path)
    assert str(path) in str(error.value)


def test_nan_names_the_key(tmp_path):
    trans = np.zeros((4, 3))
    trans[2, 1] = np.nan
    with pytest.raises(MotionFileError, match=r"key `trans` contains 1 NaN"):
        load_motion(_write(tmp_path, trans=trans))


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, poses=np.array([{"evil": 1}], dtype=object), trans=np.zeros((1, 3)), mocap_framerate=30.0)
    with pytest.raises(MotionFileError, match="`poses` holds Python objects"):
        load_motion(path)


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(MotionFileError, match=r"unknown motion file type `\.fbx`"):
        load_motion(tmp_path / "motion.fbx")
    with pytest.raises(MotionFileError, match=r"unknown motion file type"):
        save_motion(Motion.rest(2), tmp_path / "motion.txt")
    with pytest.raises(MotionFileError, match="no such motion file"):
        load_motion(tmp_path / "absent.npz")
    with pytest.raises(MotionFileError, match=r"not a readable \.npz"):
        load_motion(_write_bytes(tmp_path / "junk.npz", b"not a zip"))
    with pytest.raises(InvalidInputError, match="BVH/AMC files only"):
        load_motion(_write(tmp_path), scale=0.01)


def _write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def test_failing_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    import kinevid.motion.io.npz as npz_module

    target = tmp_path / "motion.npz"
    save_motion(Motion.rest(2), target)
    before = target.read_bytes()

    def failing_savez(handle, **arrays):
        handle.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(npz_module.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        save_motion(_random_motion(), target)
    with pytest.raises(OSError, match="disk full"):
        save_motion(_random_motion(), tmp_path / "new.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motion.npz"]
    assert target.read_bytes() == before


def test_invalid_motion_is_not_written(tmp_path):
    motion = _random_motion()
    motion.translation[3, 0] = float("nan")
    with pytest.raises(InvalidInputError, match="translation"):
        save_motion(motion, tmp_path / "nan.npz")
    assert list(tmp_path.iterdir()) == []


def test_motion_load_and_save_dispatch(tmp_path):
    motion = _random_motion(num_frames=5)
    for suffix in (".npz", ".bvh"):
        path = tmp_path / f"motion{suffix}"
        motion.save(path)
        reloaded = Motion.load(path)
        assert reloaded.fps == pytest.approx(29.97, abs=1e-9)
        torch.testing.assert_close(reloaded.joints, motion.joints, atol=1e-4, rtol=0)
