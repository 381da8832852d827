"""What the last publication wrote: each output's key and the file as it was left.

`publish_all` gives every output a key, the hash of everything it shows (see fragments.py), and
renders only the outputs whose key is not the one recorded after the last publication, or whose
file is no longer as that publication left it (another size or modification time: deleted,
edited, restored from a backup). The record is written only once a publication has written all its
files; a publication that fails half-way leaves the previous record, which the files it did write
no longer match, so they are rendered again next time.

The record lives next to the database (publish-outputs.json), with the folder it describes: a
record made for another output folder, another version of this file or that cannot be read is
ignored, which costs one full publication.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aggregator.publish.atomic import PathList

log = logging.getLogger(__name__)

RECORD_FILE = "publish-outputs.json"
_VERSION = 1


def file_stamp(path: Path | str) -> tuple[int, int] | None:
    """(size, modification time in ns), or None when the file is missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class OutputRecord:
    """The outputs of the last publication into one folder, by path relative to it."""

    def __init__(self, path: Path, out_dir: Path, scope: str) -> None:
        self.path = Path(path)
        self.out_dir = Path(out_dir)
        self._root = str(self.out_dir)
        # The folder (feeds name the page in it when there is no base_url) and the code.
        self.scope = scope
        self.outputs: dict[str, tuple[str, int, int]] = {}
        self.state: dict[str, Any] = {}
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable publication record %s: %s", self.path, exc)
            return
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return
        if data.get("scope") != self.scope:
            log.info("publication record %s is for another folder or code", self.path)
            return
        outputs = data.get("outputs")
        if not isinstance(outputs, dict):
            return
        for name, entry in outputs.items():
            if (
                isinstance(name, str)
                and isinstance(entry, list)
                and len(entry) == 3
                and isinstance(entry[0], str)
                and all(isinstance(n, int) for n in entry[1:])
            ):
                self.outputs[name] = (entry[0], entry[1], entry[2])
        state = data.get("state")
        if isinstance(state, dict):
            self.state = state

    def fresh(self, name: str, key: bytes | None) -> bool:
        """Whether the output `name` was published with `key` and is still as it was left."""
        if key is None:
            return False
        entry = self.outputs.get(name)
        if entry is None or entry[0] != key.hex():
            return False
        return file_stamp(os.path.join(self._root, name)) == entry[1:]

    def state_fresh(self, events_key: bytes, state_path: Path, now: datetime) -> bool:
        """Whether the publication state (for changes.xml) was computed from these events, is
        still the file it wrote, and `now` is inside the span it holds for (no change in its
        history has expired yet)."""
        state = self.state
        try:
            since = datetime.fromisoformat(state["since"])
            until = datetime.fromisoformat(state["until"]) if state.get("until") else None
            stamp = tuple(state["stamp"])
        except (KeyError, TypeError, ValueError):
            return False
        if state.get("events") != events_key.hex() or file_stamp(state_path) != stamp:
            return False
        return since <= now and (until is None or now < until)

    def save(
        self,
        keys: Mapping[str, bytes],
        written: Container[str],
        *,
        state: tuple[bytes, Path, datetime, datetime | None] | None,
    ) -> dict[str, tuple[int, int]]:
        """Record `keys` (output → key) with each file's stamp as it is now (read again for the
        outputs `written` and those not recorded with that key), and the state file (events'
        key, path, since, until); a failure to record costs a full publication. Returns the
        stamps recorded, by output name and by the state file's path."""
        stamps: dict[str, tuple[int, int]] = {}

        def outputs() -> Iterator[tuple[str, list[Any]]]:
            for name, key in keys.items():
                hexed = key.hex()
                entry = self.outputs.get(name)
                if entry is not None and entry[0] == hexed and name not in written:
                    stamp = (entry[1], entry[2])  # fresh: checked against the file just before
                else:
                    stamp = file_stamp(self.out_dir / name)
                    if stamp is None:
                        continue
                stamps[name] = stamp
                yield name, [hexed, *stamp]

        payload: dict[str, Any] = {
            "version": _VERSION,
            "scope": self.scope,
            "out_dir": self._root,
            "outputs": Streamed(outputs()),
        }
        if state is not None:
            events_key, path, since, until = state
            stamp = file_stamp(path)
            if stamp is not None:
                stamps[str(path)] = stamp
                payload["state"] = {
                    "path": str(path),
                    "events": events_key.hex(),
                    "stamp": list(stamp),
                    "since": since.isoformat(),
                    "until": until.isoformat() if until is not None else None,
                }
        try:
            dump_json(self.path, payload)
        except OSError as exc:
            log.warning("cannot record the publication in %s: %s", self.path, exc)
        return stamps

    def forget(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove the publication record %s: %s", self.path, exc)


@dataclass(frozen=True, slots=True)
class Streamed:
    """A member of a record written as it is produced: a JSON object of the (name, value)
    pairs `items` yields, or an array of its values (`pairs=False`)."""

    items: Iterable[Any]
    pairs: bool = True


# Members of a Streamed are encoded this many at a time (each batch in one call of the C
# encoder, which `json.dump` does not use).
_BATCH = 2048


def dump_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write `payload` as JSON in `path` (through a temporary file beside it), its `Streamed`
    members a batch at a time: a large agenda's records list tens of thousands of files, and
    neither their text nor the objects it is made from are worth holding whole at the run's
    peak of memory. Raises OSError."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.write("{")
        for index, (name, value) in enumerate(payload.items()):
            out.write(f"{',' if index else ''}{_dumps(name)}:")
            if isinstance(value, Streamed):
                _write_streamed(out, value)
            else:
                out.write(_dumps(value))
        out.write("}")
    tmp.replace(path)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _write_streamed(out: Any, value: Streamed) -> None:
    out.write("{" if value.pairs else "[")
    out.writelines(encoded_members(value.items, _dumps, pairs=value.pairs))
    out.write("}" if value.pairs else "]")


def encoded_members(
    items: Iterable[Any], encode: Callable[[Any], str], *, pairs: bool = True
) -> Iterator[str]:
    """The JSON text of an object's members (`items` yields (name, value) pairs) or of an
    array's values (`pairs=False`), without the brackets: `encode` (a `json.dumps`) is called
    once per batch, so that the C encoder does the work and no whole text is held."""
    items = iter(items)
    first = True
    while batch := list(itertools.islice(items, _BATCH)):
        text = encode(dict(batch) if pairs else batch)[1:-1]
        yield text if first else "," + text
        first = False


class Publication(PathList):
    """The paths a publication returns, with what its record says of them when it made one:
    each file's stamp (`stamps`, in the same order; None for a file it does not hold) and when
    the first change in changes.xml's history leaves it (`history_end`). The digest's record
    is made from them (see digest.py), which would otherwise read this record again."""

    def __init__(
        self,
        names: list[str],
        *,
        stamps: Sequence[tuple[int, int] | None] | None = None,
        history_end: datetime | None = None,
    ) -> None:
        super().__init__(names)
        self.stamps = stamps
        self.history_end = history_end


def recorded_stamps(path: Path) -> dict[str, tuple[int, int]]:
    """The stamps the record at `path` holds, by file path (the output folder joined with each
    output's name, and the state file): what was checked or written by the last publication."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        root = data["out_dir"]
        stamps = {
            os.path.join(root, name): (entry[1], entry[2])
            for name, entry in data["outputs"].items()
        }
        state = data.get("state")
        if isinstance(state, dict) and "path" in state:
            stamps[state["path"]] = (state["stamp"][0], state["stamp"][1])
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return {}
    return stamps


def recorded_history_end(path: Path, state_path: Path) -> tuple[bool, datetime | None]:
    """When the first change in the history of the state file `state_path` leaves changes.xml,
    as the record at `path` holds it, if it holds that file as it is now: (True, the moment or
    None). (False, None) when it does not: the state file is then to be read."""
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))["state"]
        if state["path"] != str(state_path) or tuple(state["stamp"]) != file_stamp(state_path):
            return False, None
        until = state["until"]
        return True, datetime.fromisoformat(until) if until is not None else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False, None
