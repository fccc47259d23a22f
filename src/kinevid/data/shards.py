"""Reading the two on-disk parts both dataset formats (`synth`, `cache`) share: a JSON manifest and
safetensors shards whose metadata describes their clips."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from safetensors import SafetensorError, safe_open

from ..errors import InvalidInputError


def load_json_manifest(path: Path, kind: str = "manifest") -> object:
    """The parsed JSON of the manifest at `path` (`kind`, e.g. `"cache manifest"`, names it in errors)."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"{path}: not a readable JSON {kind}: {error}") from error


def check_manifest(manifest: object, path: Path, format: str, fields: Sequence[str], kind: str = "manifest") -> dict:
    """`manifest` if it is a dict of format `format` holding every one of `fields`, else `InvalidInputError`."""
    if not isinstance(manifest, dict) or manifest.get("format") != format:
        raise InvalidInputError(f"{path}: expected a {format!r} manifest with a `format` field.")
    for key in fields:
        if key not in manifest:
            raise InvalidInputError(f"{path}: the {kind} lacks the field {key!r}.")
    return manifest


def read_shard_metadata_fields(path: Path, format: str, keys: Sequence[str], kind: str, command: str) -> dict[str, str]:
    """The string metadata of the safetensors shard at `path`, checked for `format` and `keys`.

    Args:
        kind (`str`): what the shard is, for errors (e.g. `"cache shard"`).
        command (`str`): the command that writes it again (e.g. `"kinevid data cache"`), for errors.
    """
    try:
        with safe_open(str(path), framework="numpy") as shard:
            metadata = shard.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise InvalidInputError(
            f"{path}: corrupt or truncated {kind} ({error}); delete it and rerun `{command}` to write it again."
        ) from error
    if metadata.get("format") != format or any(key not in metadata for key in keys):
        listed = "/".join(f"`{key}`" for key in ("format", *keys))
        raise InvalidInputError(f"{path}: not a {format} shard (metadata lacks {listed}).")
    return metadata


def is_valid_shard(path: Path, read_metadata: Callable[[Path], object]) -> bool:
    """Whether a finished shard is at `path`: a file `read_metadata` reads without `InvalidInputError`.

    A build resumes past valid shards and writes a corrupt or foreign file there again.
    """
    if not path.is_file():
        return False
    try:
        read_metadata(path)
    except InvalidInputError:
        return False
    return True
