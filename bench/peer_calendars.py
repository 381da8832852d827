"""The peer projects' test calendars: a manifest in the repo, the files in a local cache.

The calendars that the projects parsing iCalendar for a living test against (ical.js,
icalendar, python-recurring-ical-events, ical4j, libical, Ical.Net, khal, Radicale, node-ical,
allenporter/ical, icalevents, ics-parser) are not ours to commit. `bench/peer_calendars.json`
names each one (repository, commit, path, size, sha256); this script rebuilds the manifest from
local bare mirrors of those repositories and extracts the files into `.cache/peer-calendars/`
(gitignored), checking every sha256.

Selection: every *.ics / *.ical / *.ifb / *.vcs file of the repository at the mirrored commit,
outside zoneinfo folders (time-zone databases, not calendars), that contains a VEVENT.

    .venv/bin/python bench/peer_calendars.py manifest [--mirrors /work/.mirror]
    .venv/bin/python bench/peer_calendars.py extract  [--mirrors /work/.mirror]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "bench" / "peer_calendars.json"
CACHE = ROOT / ".cache" / "peer-calendars"
MIRRORS = Path("/work/.mirror")
REPOSITORIES = (
    "kewisch/ical.js",
    "collective/icalendar",
    "niccokunzmann/python-recurring-ical-events",
    "ical4j/ical4j",
    "libical/libical",
    "rianjs/ical.net",
    "pimutils/khal",
    "Kozea/Radicale",
    "jens-maus/node-ical",
    "allenporter/ical",
    "jazzband/icalevents",
    "u01jmg3/ics-parser",
)
_SUFFIXES = (".ics", ".ical", ".ifb", ".vcs")


def git_dir(mirrors: Path, repo: str) -> Path:
    return mirrors / repo.replace("/", "+") / "repo"


def _git(repository: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(repository), *args], capture_output=True, check=True
    ).stdout


def build_manifest(mirrors: Path) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for repo in REPOSITORIES:
        repository = git_dir(mirrors, repo)
        commit = _git(repository, "rev-parse", "HEAD").decode().strip()
        names = _git(repository, "ls-tree", "-r", "--name-only", "-z", commit).split(b"\0")
        for raw in sorted(n for n in names if n):
            path = raw.decode("utf-8", "surrogateescape")
            if not path.lower().endswith(_SUFFIXES) or "zoneinfo" in path.lower():
                continue
            data = _git(repository, "show", f"{commit}:{path}")
            if b"BEGIN:VEVENT" not in data.upper():
                continue
            entries.append(
                {
                    "repo": repo,
                    "commit": commit,
                    "path": path,
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
    return entries


def cache_path(entry: dict[str, object]) -> Path:
    return CACHE / str(entry["repo"]).replace("/", "+") / str(entry["path"])


def extract(mirrors: Path) -> tuple[int, list[str]]:
    """Write every manifest file into the cache; return (files written, problems)."""
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))
    problems: list[str] = []
    written = 0
    for entry in entries:
        target = cache_path(entry)
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == entry["sha256"]:
            written += 1
            continue
        repository = git_dir(mirrors, str(entry["repo"]))
        try:
            data = _git(repository, "show", f"{entry['commit']}:{entry['path']}")
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            problems.append(f"{entry['repo']}:{entry['path']}: not in the mirror ({exc})")
            continue
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(f"{entry['repo']}:{entry['path']}: sha256 differs from the manifest")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written += 1
    return written, problems


def cached_files() -> list[Path]:
    """The manifest's files present in the cache, in manifest order."""
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return [cache_path(e) for e in entries if cache_path(e).is_file()]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=("manifest", "extract"))
    parser.add_argument("--mirrors", type=Path, default=MIRRORS)
    args = parser.parse_args()
    if args.command == "manifest":
        entries = build_manifest(args.mirrors)
        MANIFEST.write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
        print(f"{len(entries)} calendars from {len(REPOSITORIES)} repositories → {MANIFEST}")
        return 0
    written, problems = extract(args.mirrors)
    print(f"{written} calendars in {CACHE}")
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
