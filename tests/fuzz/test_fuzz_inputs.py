"""Fuzzing the other files a user can hand kinevid: JSON training configs and joint maps, prompt
files, mp4/GIF videos, and safetensors checkpoints (the shipped evaluator, its weights and config).

Inputs are the real files with values, bytes or lines changed. Only kinevid's own errors may come out.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fuzzing import expect_kinevid_errors_only
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from test_fuzz_motion_files import byte_mutations, mutate_bytes

from kinevid.cli.commands.convert import read_joint_map
from kinevid.cli.commands.motion import read_prompt_file

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    name: json.loads((REPO / "configs" / f"{name}.json").read_text()) for name in ("structure_cmu", "evaluator_cmu")
}

# Long targets: stop at the first failure, no shrinking (minutes).
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def _leaf_paths(value, prefix=()):
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _leaf_paths(child, (*prefix, key))
    else:
        yield prefix


@st.composite
def mutated_config(draw, name: str):
    """The shipped config with a few values replaced, keys dropped or added."""
    config = json.loads(json.dumps(CONFIGS[name]))
    paths = list(_leaf_paths(config))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = config
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            parent.pop(path[-1], None)
        else:
            parent[draw(st.text(max_size=6))] = draw(json_values)
    return config


def _load_config(name: str, path: Path, output: Path):
    if name == "structure_cmu":
        from kinevid.recipes.structure import StructureTrainingConfig as config_class
    else:
        from kinevid.recipes.evaluator import EvaluatorTrainingConfig as config_class
    return config_class.load(path, output)


def _check_config(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    expect_kinevid_errors_only(f"json: {name} training config", _load_config, name, path, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # reading a config writes nothing


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=60, phases=NO_SHRINK)
@given(data=st.data())
def test_training_configs(tmp_path_factory, name, data):
    text = json.dumps(data.draw(mutated_config(name)), allow_nan=False)
    _check_config(tmp_path_factory.mktemp("config"), name, text)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=20)
@given(text=st.text(max_size=200))
def test_training_configs_random_text(tmp_path_factory, name, text):
    _check_config(tmp_path_factory.mktemp("config"), name, text)


@pytest.mark.heavy
@pytest.mark.parametrize("name", sorted(CONFIGS))
@settings(max_examples=1500, phases=NO_SHRINK)
@given(data=st.data())
def test_training_configs_nightly(tmp_path_factory, name, data):
    text = json.dumps(data.draw(mutated_config(name)), allow_nan=False)
    _check_config(tmp_path_factory.mktemp("config"), name, text)


@settings(max_examples=40)
@given(value=json_values | st.text(max_size=40))
def test_joint_maps(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("map") / "map.json"
    path.write_text(
        json.dumps(value) if not isinstance(value, str) else value, encoding="utf-8", errors="surrogatepass"
    )
    expect_kinevid_errors_only("json: --joint-map", read_joint_map, path)


# ----------------------------------------------------------------------------- prompt files


PROMPT_BYTES = st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))


def _check_prompt_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "prompts.txt"
    path.write_bytes(data)
    prompts = expect_kinevid_errors_only("text: prompt files", read_prompt_file, path)
    if prompts is not None:
        assert prompts and all(p.strip() == p and p and not p.startswith("#") for p in prompts)


@settings(max_examples=40)
@given(data=PROMPT_BYTES)
def test_prompt_files(tmp_path_factory, data):
    _check_prompt_file(tmp_path_factory.mktemp("prompts"), data)


@pytest.mark.heavy
@settings(max_examples=2000)
@given(data=PROMPT_BYTES)
def test_prompt_files_nightly(tmp_path_factory, data):
    _check_prompt_file(tmp_path_factory.mktemp("prompts"), data)


# ----------------------------------------------------------------------------- videos


@pytest.fixture(scope="module")
def video_bytes(tmp_path_factory) -> dict[str, bytes]:
    from kinevid.render import write_video

    frames = (np.arange(4 * 16 * 16 * 3) % 251).astype(np.uint8).reshape(4, 16, 16, 3)
    directory = tmp_path_factory.mktemp("video")
    files = {}
    for suffix in (".mp4", ".gif"):
        write_video(frames, directory / f"clip{suffix}", fps=8.0)
        files[suffix] = (directory / f"clip{suffix}").read_bytes()
    return files


def _read_video(path: Path):
    from kinevid.render import read_video

    return read_video(path)


def _check_video(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    frames = expect_kinevid_errors_only(f"video: read_video ({suffix})", _read_video, path)
    if frames is not None:
        assert frames.ndim == 4 and frames.shape[-1] == 3 and frames.dtype == np.uint8


@settings(max_examples=60)
@given(suffix=st.sampled_from([".mp4", ".gif"]), mutations=byte_mutations())
def test_videos(tmp_path_factory, video_bytes, suffix, mutations):
    _check_video(tmp_path_factory.mktemp("video"), mutate_bytes(video_bytes[suffix], mutations), suffix)


@pytest.mark.heavy
@settings(max_examples=2000, phases=NO_SHRINK)
@given(suffix=st.sampled_from([".mp4", ".gif"]), mutations=byte_mutations())
def test_videos_nightly(tmp_path_factory, video_bytes, suffix, mutations):
    _check_video(tmp_path_factory.mktemp("video"), mutate_bytes(video_bytes[suffix], mutations), suffix)


# ----------------------------------------------------------------------------- safetensors checkpoints


@pytest.fixture(scope="module")
def evaluator_dir() -> Path:
    from kinevid.eval.evaluator import DEFAULT_EVALUATOR_DIR

    return Path(DEFAULT_EVALUATOR_DIR)


def _load_evaluator(path: Path):
    from kinevid.eval.evaluator import TextMotionEvaluator

    return TextMotionEvaluator.from_pretrained(path)


def _mutate_checkpoint(source: Path, target: Path, which: str, mutations) -> None:
    shutil.copytree(source, target)
    if which == "weights":
        weights = next(target.glob("*.safetensors"))
        data = weights.read_bytes()
        header_end = 8 + int.from_bytes(data[:8], "little")
        # Mutate the header (and the start of the data): that is where parsing happens.
        head = mutate_bytes(data[: header_end + 64], mutations)
        weights.write_bytes(head + data[header_end + 64 :])
    else:
        config = target / "config.json"
        config.write_bytes(mutate_bytes(config.read_bytes(), mutations))


@settings(max_examples=30, phases=NO_SHRINK)
@given(which=st.sampled_from(["weights", "config"]), mutations=byte_mutations())
def test_safetensors_checkpoints(tmp_path_factory, evaluator_dir, which, mutations):
    target = tmp_path_factory.mktemp("checkpoint") / "evaluator"
    _mutate_checkpoint(evaluator_dir, target, which, mutations)
    expect_kinevid_errors_only(f"safetensors: evaluator checkpoint ({which})", _load_evaluator, target)


def test_fuzz_helpers_report_foreign_errors():
    """The harness itself: a non-kinevid error escapes, a kinevid error is an accepted outcome."""

    def foreign():
        raise KeyError("not ours")

    def ours():
        raise read_joint_map.__globals__["InvalidInputError"]("ours")

    with pytest.raises(KeyError):
        expect_kinevid_errors_only("harness", foreign)
    assert expect_kinevid_errors_only("harness", ours) is None
