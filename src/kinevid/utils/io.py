"""File helpers: every file kinevid writes goes through `atomic_write` (several at once: `atomic_write_group`);
commands check where they will write with `check_output_path` before doing the work."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import InvalidInputError

# What `np.load` and zipfile raise on a damaged `.npz` (ValueError also covers pickled members). A
# flipped flag bit in a member's directory entry makes zipfile report encryption (RuntimeError) or an
# unsupported feature (NotImplementedError).
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError)
NPZ_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, KeyError, ValueError, *_ARCHIVE_ERRORS)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    The temporary file keeps the target's suffix, so writers that pick a format from the suffix
    (numpy, PyAV, imageio) behave as for the final name. On error the temporary file is removed
    and `path` is left untouched: nothing half-written is ever visible under the final name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file 0600; give the result the permissions a plain open() would.
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, target)
    except OSError as error:
        if error.filename in (str(tmp), tmp):  # name the file the user asked for, not our temporary
            error.filename = str(target)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging directory beside `path` to fill; when the block ends without an error it
    replaces `path` (whose old contents go), so the directory appears complete or not at all.

    Example:
        with atomic_directory("runs/mosa/pipeline") as staging:
            model.save_pretrained(staging / "transformer")
    """
    path = Path(path)
    staging = path.with_name(path.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        shutil.rmtree(path, ignore_errors=True)
        staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def atomic_write_group(paths: Sequence[str | os.PathLike[str]]) -> Iterator[list[Path]]:
    """`atomic_write` for several files that appear together or not at all.

    Yields one temporary path per target; only when the block succeeds are they all renamed onto
    their targets (renames within a directory, which do not fail part-way in practice). On error
    every temporary file is removed and no target is touched.
    """
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_write(path)) for path in paths]


def check_output_path(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Check, before any work, that a file can be written at `path`; return it as a `Path`.

    The nearest existing ancestor of `path` must be a writable directory (probed by creating and
    removing a temporary file there, so read-only mounts and permissions are caught whoever runs
    it), and `path` itself must not be a directory. Nothing is left behind.

    Raises:
        `InvalidInputError`: naming `what`, the path and the reason.
    """
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(f"{what} {target}: is a directory; expected a file name.")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidInputError(f"{what} {target}: cannot create it, {ancestor} is a file, not a directory.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".kinevid-probe-", dir=ancestor)
    except OSError as error:
        raise InvalidInputError(f"{what} {target}: cannot write in {ancestor} ({error.strerror}).") from None
    os.close(fd)
    os.unlink(probe)
    return target


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
