"""A StatusStore in a directory, shared by processes (``modelcanary run`` and the control CLI).

Each rollout is one JSON file, ``<root>/rollouts/<namespace>/<name>.json`` holding
``{"version": n, "deleted": bool, "rollout": <ModelRollout.to_dict()>}``. Writes are atomic
(temp file + ``os.replace``), so a reader never sees half a file; every read-modify-write holds
an exclusive ``fcntl.flock`` on ``<name>.lock`` beside it, so the running engine saving a status
and a CLI command annotating an action never lose each other's update. ``save_status`` checks
the version like :class:`MemoryStatusStore` (optimistic concurrency). POSIX only (``fcntl``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import SpecError, SpecIssue
from ..ports import Stored
from ..spec import ModelRollout, RolloutStatus
from ._actions import without_actions
from ._memory import checked

_SAFE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: a temp file in the same directory (created
    0600, owner only), flushed and fsynced, then ``os.replace``; a reader never sees half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class FileStatusStore:
    """Rollouts by (namespace, name) as JSON files under ``root``, versioned on every write."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- paths --------------------------------------------------------------------------
    def _dir(self, namespace: str) -> Path:
        return self.root / "rollouts" / checked_name(namespace, "namespace")

    def _file(self, name: str, namespace: str) -> Path:
        return self._dir(namespace) / f"{checked_name(name, 'name')}.json"

    @contextlib.contextmanager
    def _locked(self, name: str, namespace: str) -> Iterator[Path]:
        """Hold the rollout's lock file (exclusive) and yield its JSON path."""
        path = self._ensure(name, namespace)
        with open(path.with_suffix(".lock"), "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _ensure(self, name: str, namespace: str) -> Path:
        """The rollout's JSON path, its directory created (the root git-ignored)."""
        path = self._file(name, namespace)
        if not path.parent.is_dir():
            # owner only: the stored spec may hold inline credentials (files are 0600 too)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.parent.parent.chmod(0o700)
            ignore = self.root / ".gitignore"
            if not ignore.exists():  # a work dir, like .pytest_cache: never committed
                ignore.write_text("*\n", encoding="utf-8")
        return path

    @contextlib.contextmanager
    def claim(self, name: str, namespace: str, *, fresh: bool = True) -> Iterator[None]:
        """Hold the rollout for one runner while the block runs; ``fresh`` forgets the earlier
        run first (its status and action annotations; the rollout itself stays, so a reader in
        another process never sees it vanish while a runner restarts). A second claim, from any
        process, fails at once with a SpecError; the OS drops the claim when its process dies."""
        path = self._ensure(name, namespace).with_suffix(".run")
        with open(path, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SpecError(
                    SpecIssue(
                        "metadata.name",
                        f"rollout {namespace}/{name} is already running from {self.root}",
                        f"wait for it, stop it with `modelcanary abort {name}`, "
                        "or use another --workdir",
                    )
                ) from None
            try:
                if fresh:
                    self._reset(name, namespace)
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- raw records --------------------------------------------------------------------
    @staticmethod
    def _read(path: Path) -> tuple[ModelRollout, int, bool] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        data: dict[str, Any] = json.loads(text)
        rollout = ModelRollout.model_validate(data["rollout"])
        return rollout, int(data["version"]), bool(data.get("deleted", False))

    @staticmethod
    def _write(path: Path, rollout: ModelRollout, version: int, deleted: bool) -> None:
        doc = {"version": version, "deleted": deleted, "rollout": rollout.to_dict()}
        write_atomic(path, json.dumps(doc, indent=1))

    # -- MemoryStatusStore's API --------------------------------------------------------
    def put(self, rollout: ModelRollout) -> None:
        """Create or replace a rollout (keeps its status if the new one has none)."""
        namespace = rollout.metadata.namespace or "default"
        with self._locked(rollout.name, namespace) as path:
            old = self._read(path)
            if old is not None and rollout.status is None:
                rollout = rollout.model_copy(update={"status": old[0].status})
            self._write(path, rollout, (old[1] + 1) if old else 1, False)

    def annotate(self, name: str, namespace: str, annotations: dict[str, str]) -> None:
        """Merge annotations into the stored rollout (how manual actions arrive)."""
        with self._locked(name, namespace) as path:
            rollout, version, deleted = self._existing(path, name, namespace)
            merged = {**(rollout.metadata.annotations or {}), **annotations}
            meta = rollout.metadata.model_copy(update={"annotations": merged})
            self._write(path, rollout.model_copy(update={"metadata": meta}), version + 1, deleted)

    def delete(self, name: str, namespace: str) -> None:
        """Request deletion: the next tick sees ``deleted`` and terminates the rollout."""
        with self._locked(name, namespace) as path:
            rollout, version, _ = self._existing(path, name, namespace)
            self._write(path, rollout, version + 1, True)

    def _reset(self, name: str, namespace: str) -> None:
        """Drop the status and the action annotations of a stored rollout (in one write)."""
        with self._locked(name, namespace) as path:
            item = self._read(path)
            if item is not None:
                self._write(path, without_actions(item[0]), item[1] + 1, False)

    def remove(self, name: str, namespace: str) -> None:
        """Forget the rollout entirely."""
        with self._locked(name, namespace) as path, contextlib.suppress(FileNotFoundError):
            path.unlink()

    def stamp(self, name: str, namespace: str) -> tuple[int, int, int] | None:
        """A cheap fingerprint of the stored rollout (inode, mtime, size of its file): every
        write replaces the file, so it moves on every write. None when there is no file."""
        try:
            info = self._file(name, namespace).stat()
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def get(self, name: str, namespace: str) -> Stored | None:
        item = self._read(self._file(name, namespace))
        if item is None:
            return None
        rollout, version, deleted = item
        return Stored(rollout, str(version), deleted)

    def save_status(
        self, name: str, namespace: str, status: RolloutStatus, expected_version: str | None
    ) -> str | None:
        with self._locked(name, namespace) as path:
            item = self._read(path)
            rollout, version, deleted = checked(item, name, namespace, expected_version)
            self._write(path, rollout.model_copy(update={"status": status}), version + 1, deleted)
            return str(version + 1)

    def list(self, namespace: str | None = None) -> list[Stored]:
        """Every stored rollout (of ``namespace``, or all), sorted by namespace then name."""
        base = self.root / "rollouts"
        dirs = [self._dir(namespace)] if namespace is not None else sorted(base.glob("*"))
        found: list[Stored] = []
        for folder in dirs:
            for path in sorted(folder.glob("*.json")):
                item = self._read(path)
                if item is not None:
                    found.append(Stored(item[0], str(item[1]), item[2]))
        return found

    @staticmethod
    def _existing(path: Path, name: str, namespace: str) -> tuple[ModelRollout, int, bool]:
        item = FileStatusStore._read(path)
        if item is None:  # MemoryStatusStore raises KeyError too
            raise KeyError(f"no rollout {namespace}/{name}")
        return item


def checked_name(part: str, what: str) -> str:
    """A name or namespace safe as a file name (no ``/``, ``..``, hidden files); the status
    store and the CLI's runner records (``runs/<ns>/<name>.json``) name their files with it."""
    if not _SAFE_NAME.match(part):
        raise SpecError(
            SpecIssue(
                what,
                f"{part!r} is not a valid rollout {what}",
                "use letters, digits, '-', '.' or '_' (a Kubernetes name)",
            )
        )
    return part
