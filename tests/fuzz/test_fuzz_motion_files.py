"""Fuzzing the motion file readers a user hands files to: BVH, npz (ours and AMASS's), ASF/AMC,
and `kinevid convert` end to end (outputs complete or absent).

Inputs are valid files mutated line by line / byte by byte, and files built from random parts.
The only acceptable failures are kinevid's own errors.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fuzzing import expect_kinevid_errors_only
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kinevid.cli.main import main
from kinevid.motion import Motion
from kinevid.motion.io import load_motion, read_amc, read_asf, read_bvh, sample_motion_path

JUNK_TOKENS = (
    "{", "}", "ROOT", "JOINT", "End", "Site", "OFFSET", "CHANNELS", "MOTION", "Frames:", "Frame", "Time:",
    "Xrotation", "Yposition", "6", "3", "0", "-1", "1e308", "-1e308", "nan", "inf", "1e-320", "abc", "\x00",
    "é", ":root", ":bonedata", ":hierarchy", "begin", "end", "name", "dof", "rx", "axis", "XYZ", "length",
    "direction", "root", "1", "lfemur", ":DEGREES", ":RADIANS", "limits", "(-180", "180)",
)  # fmt: skip


def _small_bvh_text() -> str:
    """A short valid BVH: the bundled sample's hierarchy and its first 3 frames."""
    lines = sample_motion_path().read_text().splitlines()
    motion = lines.index("MOTION")
    header = [*lines[: motion + 1], "Frames: 3", lines[motion + 2]]
    return "\n".join([*header, *lines[motion + 3 : motion + 6]]) + "\n"


BVH_TEXT = _small_bvh_text()


def line_mutations():
    """Edits of a text file's lines: (kind, line fraction, token fraction, junk)."""
    return st.lists(
        st.tuples(
            st.sampled_from(["replace", "delete_token", "insert", "delete_line", "duplicate_line", "truncate"]),
            st.floats(0, 1, allow_nan=False),
            st.floats(0, 1, allow_nan=False),
            st.sampled_from(JUNK_TOKENS) | st.text(max_size=6),
        ),
        min_size=1,
        max_size=6,
    )


def mutate_lines(text: str, mutations) -> str:
    lines = text.splitlines()
    for kind, where, token_where, junk in mutations:
        if not lines:
            break
        index = min(int(where * len(lines)), len(lines) - 1)
        tokens = lines[index].split()
        position = min(int(token_where * len(tokens)), max(len(tokens) - 1, 0))
        if kind == "replace" and tokens:
            tokens[position] = junk
        elif kind == "delete_token" and tokens:
            del tokens[position]
        elif kind == "insert":
            tokens.insert(position, junk)
        elif kind == "delete_line":
            del lines[index]
            continue
        elif kind == "duplicate_line":
            lines.insert(index, lines[index])
            continue
        elif kind == "truncate":
            lines = lines[:index]
            continue
        lines[index] = " ".join(tokens)
    return "\n".join(lines) + "\n"


def _load_quietly(path: Path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implausible frame rates of garbage motions are expected
        return load_motion(path, **options)


def _check_bvh(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.bvh"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    expect_kinevid_errors_only("bvh: read_bvh", read_bvh, path)
    motion = expect_kinevid_errors_only("bvh: load_motion (parse + retarget)", _load_quietly, path)
    if motion is not None:
        motion.validate()


@settings(max_examples=150)
@given(mutations=line_mutations())
@example(mutations=[("replace", 0.49609375, 1.0, "1e308")])  # nightly finding: an offset overflowing to inf
def test_bvh_mutations(tmp_path_factory, mutations):
    _check_bvh(tmp_path_factory.mktemp("bvh"), mutate_lines(BVH_TEXT, mutations))


@settings(max_examples=40)
@given(text=st.text(max_size=400) | st.binary(max_size=400).map(lambda b: b.decode("latin-1")))
def test_bvh_random_text(tmp_path_factory, text):
    _check_bvh(tmp_path_factory.mktemp("bvh"), text)


@pytest.mark.heavy
@settings(max_examples=3000)
@given(mutations=line_mutations())
def test_bvh_mutations_nightly(tmp_path_factory, mutations):
    _check_bvh(tmp_path_factory.mktemp("bvh"), mutate_lines(BVH_TEXT, mutations))


# ----------------------------------------------------------------------------- npz


def _ours_bytes() -> bytes:
    buffer = io.BytesIO()
    motion = Motion.rest(3)
    from kinevid.body import matrix_to_axis_angle

    np.savez(
        buffer,
        poses=matrix_to_axis_angle(motion.rotations).reshape(3, 72).numpy(),
        trans=motion.translation.numpy(),
        betas=np.zeros(10, dtype=np.float32),
        mocap_framerate=np.array(30.0),
        gender=np.array("neutral"),
        kinevid_offsets=motion.offsets.numpy(),
        kinevid_format_version=np.array(1),
    )
    return buffer.getvalue()


def _amass_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, poses=np.zeros((4, 156)), trans=np.zeros((4, 3)), betas=np.zeros(16), mocap_framerate=120.0)
    return buffer.getvalue()


NPZ_FILES = {"ours": _ours_bytes(), "amass": _amass_bytes()}
NPZ_KEYS = (
    "poses", "trans", "betas", "mocap_framerate", "mocap_frame_rate", "kinevid_offsets", "kinevid_format_version",
    "gender", "dmpls",
)  # fmt: skip


def byte_mutations():
    return st.lists(
        st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]), st.floats(0, 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    )


def mutate_bytes(data: bytes, mutations) -> bytes:
    array = bytearray(data)
    for kind, where, value in mutations:
        if not array:
            break
        index = min(int(where * len(array)), len(array) - 1)
        if kind == "flip":
            array[index] ^= value or 1
        elif kind == "insert":
            array.insert(index, value)
        elif kind == "delete":
            del array[index]
        else:
            del array[index:]
    return bytes(array)


def _array_of_any_kind():
    dtypes = (
        hnp.floating_dtypes() | hnp.integer_dtypes() | hnp.boolean_dtypes() | hnp.complex_number_dtypes()
        | hnp.unicode_string_dtypes(max_len=3) | hnp.datetime64_dtypes()
    )  # fmt: skip
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=80)
    return hnp.arrays(dtypes, shapes)


@st.composite
def _well_shaped_arrays(draw):
    """The keys of the layout with the right shapes but any dtype and any values (NaN, huge, ...)."""
    frames = draw(st.integers(1, 4))
    dtypes = hnp.floating_dtypes() | hnp.integer_dtypes() | hnp.complex_number_dtypes() | hnp.boolean_dtypes()
    shapes = {"poses": (frames, draw(st.sampled_from([72, 156]))), "trans": (frames, 3), "mocap_framerate": ()}
    shapes.update({"betas": (draw(st.integers(0, 16)),), "kinevid_offsets": (24, 3), "kinevid_format_version": ()})
    keys = draw(st.sets(st.sampled_from(sorted(shapes)), min_size=2))
    return {key: draw(hnp.arrays(dtypes, shapes[key])) for key in keys}


def _check_npz(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    motion = expect_kinevid_errors_only("npz: load_motion", _load_quietly, path)
    if motion is not None:
        motion.validate()


@settings(max_examples=100)
@given(source=st.sampled_from(sorted(NPZ_FILES)), mutations=byte_mutations())
def test_npz_byte_mutations(tmp_path_factory, source, mutations):
    _check_npz(tmp_path_factory.mktemp("npz"), mutate_bytes(NPZ_FILES[source], mutations))


@settings(max_examples=100)
@given(arrays=st.dictionaries(st.sampled_from(NPZ_KEYS), _array_of_any_kind(), max_size=6) | _well_shaped_arrays())
@example(arrays={"poses": np.zeros((2, 72), ">f8"), "trans": np.zeros((2, 3), ">f4"), "mocap_framerate": 30.0})
def test_npz_random_arrays(tmp_path_factory, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _check_npz(tmp_path_factory.mktemp("npz"), buffer.getvalue())


def test_npz_loads_only_motions_that_validate(tmp_path):
    """CI's nightly findings: a root 32 km away (float32 joints then drift by millimetres) and finite
    axis-angles whose norm overflows (NaN rotations) are one-line errors naming the file and key."""
    from kinevid.errors import MotionFileError
    from kinevid.motion.io import load_motion

    cases = {
        "far.npz": ({"trans": np.full((2, 3), 32770.0, np.float16), "poses": np.zeros((2, 72), np.float16)}, "trans"),
        "huge.npz": ({"trans": np.zeros((1, 3), np.float16), "poses": np.full((1, 72), 1e154)}, "poses"),
    }
    for name, (arrays, key) in cases.items():
        np.savez(tmp_path / name, mocap_framerate=np.int8(1), **arrays)
        with pytest.raises(MotionFileError, match=rf"{name}: key `{key}`"):
            load_motion(tmp_path / name)


@pytest.mark.heavy
@settings(max_examples=3000)
@given(
    source=st.sampled_from(sorted(NPZ_FILES)),
    mutations=byte_mutations(),
    arrays=st.dictionaries(st.sampled_from(NPZ_KEYS), _array_of_any_kind(), max_size=6) | _well_shaped_arrays(),
)
def test_npz_nightly(tmp_path_factory, source, mutations, arrays):
    directory = tmp_path_factory.mktemp("npz")
    _check_npz(directory, mutate_bytes(NPZ_FILES[source], mutations))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _check_npz(directory, buffer.getvalue())


def test_npz_zip_without_arrays(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("poses.npy", b"not an array")
    _check_npz(tmp_path, buffer.getvalue())


@pytest.mark.parametrize("flag_bit", [0, 5, 6], ids=["encrypted", "patched", "strong-encryption"])
def test_npz_member_flag_bits(tmp_path, flag_bit):
    """CI's nightly findings: a flipped general-purpose flag bit in a member's directory entry makes
    zipfile raise RuntimeError or NotImplementedError; the loader must name the file instead."""
    from kinevid.errors import MotionFileError
    from kinevid.motion.io import load_motion

    data = bytearray(NPZ_FILES["ours"])
    entry = data.index(b"PK\x01\x02")  # the first central-directory entry, which zipfile trusts
    data[entry + 8] |= 1 << flag_bit  # the flag word follows signature (4 bytes) and two versions (2 + 2)
    path = tmp_path / "flagged.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(MotionFileError, match=r"flagged\.npz"):
        load_motion(path)


# ----------------------------------------------------------------------------- ASF/AMC


def _asf_amc_texts() -> tuple[str, str]:
    from kinevid.motion.io.asf_amc import ROOT  # noqa: F401  (the reader's own root name is "root")

    asf = """:version 1.10
:name VICON
:units
  mass 1.0
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name lfemur
     direction 0.34 -0.94 0
     length 7.2
     axis 0 0 20 XYZ
    dof rx ry rz
    limits (-160.0 20.0)
           (-70.0 70.0)
           (-60.0 70.0)
  end
  begin
     id 2
     name ltibia
     direction 0.34 -0.94 0
     length 7.4
     axis 0 0 20 XYZ
    dof rx
    limits (-10.0 170.0)
  end
:hierarchy
  begin
    root lfemur
    lfemur ltibia
  end
"""
    frames = [":FULLY-SPECIFIED", ":DEGREES"]
    for t in range(1, 4):
        frames += [str(t), f"root {t} 17 -10 1 2 3", f"lfemur {t} -5 3", f"ltibia {10 * t}"]
    return asf, "\n".join(frames) + "\n"


ASF_TEXT, AMC_TEXT = _asf_amc_texts()


def _check_asf_amc(tmp_path: Path, asf_text: str, amc_text: str) -> None:
    asf, amc = tmp_path / "s.asf", tmp_path / "s_01.amc"
    asf.write_text(asf_text, encoding="utf-8", errors="surrogatepass")
    amc.write_text(amc_text, encoding="utf-8", errors="surrogatepass")
    skeleton = expect_kinevid_errors_only("asf: read_asf", read_asf, asf)
    if skeleton is not None:
        expect_kinevid_errors_only("amc: read_amc", read_amc, amc, skeleton)
    # The fixture lacks arms: mapping onto SMPL-24 fails cleanly (UnknownJointError) or, mutated, otherwise.
    expect_kinevid_errors_only("amc: load_motion", _load_quietly, amc, skeleton=asf)


@settings(max_examples=80)
@given(asf_mutations=line_mutations(), amc_mutations=line_mutations(), which=st.sampled_from(["asf", "amc", "both"]))
def test_asf_amc_mutations(tmp_path_factory, asf_mutations, amc_mutations, which):
    asf = mutate_lines(ASF_TEXT, asf_mutations) if which in ("asf", "both") else ASF_TEXT
    amc = mutate_lines(AMC_TEXT, amc_mutations) if which in ("amc", "both") else AMC_TEXT
    _check_asf_amc(tmp_path_factory.mktemp("asf"), asf, amc)


@pytest.mark.heavy
@settings(max_examples=2000)
@given(asf_mutations=line_mutations(), amc_mutations=line_mutations())
def test_asf_amc_nightly(tmp_path_factory, asf_mutations, amc_mutations):
    _check_asf_amc(
        tmp_path_factory.mktemp("asf"), mutate_lines(ASF_TEXT, asf_mutations), mutate_lines(AMC_TEXT, amc_mutations)
    )


# ----------------------------------------------------------------------------- convert, end to end


def _check_convert(tmp_path: Path, text: str, suffix: str) -> None:
    source = tmp_path / "in.bvh"
    source.write_text(text, encoding="utf-8", errors="surrogatepass")
    output = tmp_path / "out" / f"motion{suffix}"
    code = expect_kinevid_errors_only("cli: kinevid convert", main, ["convert", str(source), str(output)])
    assert code in (0, 1)
    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    if code == 0:
        assert written == ["in.bvh", f"motion{suffix}"]
        load_motion(output).validate()  # complete, readable
    else:
        assert written == ["in.bvh"], written  # nothing half-written, no temporary left


@settings(max_examples=40)
@given(mutations=line_mutations(), suffix=st.sampled_from([".npz", ".bvh"]))
def test_convert_outputs_are_complete_or_absent(tmp_path_factory, mutations, suffix, capsys):
    _check_convert(tmp_path_factory.mktemp("convert"), mutate_lines(BVH_TEXT, mutations), suffix)
    capsys.readouterr()


@pytest.mark.heavy
@settings(max_examples=1000)
@given(mutations=line_mutations(), suffix=st.sampled_from([".npz", ".bvh"]))
def test_convert_nightly(tmp_path_factory, mutations, suffix, capsys):
    _check_convert(tmp_path_factory.mktemp("convert"), mutate_lines(BVH_TEXT, mutations), suffix)
    capsys.readouterr()
