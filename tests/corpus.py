"""The real-world test corpus: described by a manifest in the repository, kept out of it.

The corpus (calendars, feeds and pages other people wrote, plus the labelled prose and dedupe
development sets) is third-party material, so the repository holds only
`tests/corpus-manifest.json`: for every file its path, size, sha256 and origin (repository,
commit, path in that repository). This module brings the files into a local cache folder:

- from a local copy of the corpus (`../shared/corpus` beside the checkout, or `--from DIR`),
- else downloaded from the pinned origins (raw files at the recorded commit) with pooch,

and every file is verified against its sha256 either way. Extracts are rebuilt from the file
they were taken from (a calendar response body out of a VCR cassette, an ```xml block out of
Markdown notes). The labelled development sets (prose/, dedupe/) were packaged by the corpus'
maintainers: they come from a local copy only, and the test suite does not need them.

    python3 tasks.py corpus                 # fill .cache/corpus (what the test command uses)
    .venv/bin/python tests/corpus.py manifest ../shared/corpus   # maintainers: rewrite the manifest
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "tests" / "corpus-manifest.json"
CACHE = ROOT / ".cache" / "corpus"
SHARED = ROOT.parent / "shared" / "corpus"
# The survey of candidate sources that the registry tests compare sources.yaml with.
SURVEY = (
    Path(os.environ["AGGREGATOR_CORPUS"]).parent
    if os.environ.get("AGGREGATOR_CORPUS")
    else ROOT.parent / "shared"
) / "sources-candidates.md"
# Raw files at a commit: {origin}/{repo}/{commit}/{path}. Tests point it at a loopback server.
DEFAULT_ORIGIN = "https://raw.githubusercontent.com"
FETCH_COMMAND = "python3 tasks.py corpus"
# The parts the test suite reads; the others are development sets for the bench/ scores.
TEST_PARTS = ("ics", "feeds", "html")


@dataclass(frozen=True)
class Entry:
    """One corpus file as the manifest describes it."""

    path: str  # relative to the corpus root, e.g. "ics/nextcloud-sabredav-all-day.ics"
    size: int
    sha256: str
    repo: str | None = None  # owner/name of the repository it comes from
    commit: str | None = None
    source_path: str | None = None  # its path in that repository
    extract: str | None = None  # how it is cut out of that file: a key of EXTRACTORS
    local_only: bool = False  # packaged for the corpus: only a local copy can provide it

    def url(self, origin: str) -> str | None:
        if self.local_only or not (self.repo and self.commit and self.source_path):
            return None
        return f"{origin.rstrip('/')}/{self.repo}/{self.commit}/{self.source_path}"

    @property
    def part(self) -> str:
        return self.path.split("/", 1)[0]


class _CassetteLoader(yaml.SafeLoader):
    """VCR cassettes write binary bodies with Ruby's local tag `!binary`."""


_CassetteLoader.add_constructor(
    "!binary", lambda loader, node: base64.b64decode(loader.construct_scalar(node))
)


def _vcr_calendar_body(data: bytes) -> bytes:
    """The body of the first 200 text/calendar response recorded in a VCR cassette."""
    for interaction in yaml.load(data, Loader=_CassetteLoader)["http_interactions"]:
        response = interaction["response"]
        types = [
            v for k, vs in response["headers"].items() if k.lower() == "content-type" for v in vs
        ]
        if response["status"]["code"] == 200 and any("text/calendar" in t for t in types):
            body = response["body"]
            if "base64_string" in body:
                return base64.b64decode(body["base64_string"])
            text = body["string"]
            return text if isinstance(text, bytes) else text.encode("utf-8")
    raise ValueError("no 200 text/calendar response in the cassette")


def _markdown_xml_block(data: bytes) -> bytes:
    """The content of the first ```xml fenced block of a Markdown file."""
    match = re.search(rb"```xml\r?\n(.*?)```", data, re.S)
    if match is None:
        raise ValueError("no ```xml block in the file")
    return match.group(1)


EXTRACTORS = {"vcr-calendar-body": _vcr_calendar_body, "markdown-xml-block": _markdown_xml_block}


def load_manifest(path: Path = MANIFEST) -> list[Entry]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Entry(**item) for item in data["files"]]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def corpus_root() -> Path:
    """Where the tests read the corpus: $AGGREGATOR_CORPUS, else the cache folder."""
    override = os.environ.get("AGGREGATOR_CORPUS")
    return Path(override) if override else CACHE


def missing_files(root: Path | None = None, entries: list[Entry] | None = None) -> list[str]:
    """Test-suite files absent from `root` (sizes compared; hashes were checked when filled)."""
    root = root or corpus_root()
    entries = entries if entries is not None else load_manifest()
    return [
        e.path
        for e in entries
        if e.part in TEST_PARTS
        and (not (root / e.path).is_file() or (root / e.path).stat().st_size != e.size)
    ]


class CorpusError(Exception):
    """The corpus could not be brought in complete and verified."""


def fill_cache(
    *,
    source: Path | None = None,
    origin: str = DEFAULT_ORIGIN,
    cache: Path = CACHE,
    entries: list[Entry] | None = None,
    parts: tuple[str, ...] | None = None,
) -> tuple[int, int]:
    """Bring the manifest's files into `cache`, verified; return (copied, downloaded).

    Everything a local copy has is copied; without one, only `parts` (default: what the test
    suite reads) is downloaded. A file already in the cache with the right hash is kept. Raises
    `CorpusError` listing every file that could not be had, with the reason.
    """
    entries = entries if entries is not None else load_manifest()
    if source is None:
        wanted = parts or TEST_PARTS
        entries = [e for e in entries if e.part in wanted]
    copied = downloaded = 0
    problems: list[str] = []
    for entry in entries:
        target = cache / entry.path
        if target.is_file() and sha256_of(target) == entry.sha256:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        local = source / entry.path if source else None
        if local is not None and local.is_file():
            if sha256_of(local) != entry.sha256:
                problems.append(f"{entry.path}: the local copy in {source} has another sha256")
                continue
            temporary = target.with_name(target.name + ".part")
            shutil.copyfile(local, temporary)
            temporary.replace(target)
            copied += 1
            continue
        url = entry.url(origin)
        if url is None:
            problems.append(f"{entry.path}: packaged for the corpus, only a local copy has it")
            continue
        try:
            _download(url, entry, target)
        except Exception as exc:  # pooch raises requests' and its own errors
            problems.append(f"{entry.path}: {url}: {exc}")
            continue
        downloaded += 1
    if problems:
        raise CorpusError(
            f"{len(problems)} of {len(entries)} corpus files could not be had:\n  "
            + "\n  ".join(problems)
        )
    return copied, downloaded


def _download(url: str, entry: Entry, target: Path) -> None:
    import pooch

    pooch.get_logger().setLevel("WARNING")
    if entry.extract is None:
        # pooch downloads to a temporary file, checks the hash, and only then moves it in place.
        pooch.retrieve(
            url,
            known_hash=f"sha256:{entry.sha256}",
            fname=target.name,
            path=target.parent,
            progressbar=False,
        )
        return
    # The upstream file is not pinned by hash; the extract cut from it is.
    container = pooch.retrieve(
        url, known_hash=None, path=target.parent / ".upstream", progressbar=False
    )
    data = EXTRACTORS[entry.extract](Path(container).read_bytes())
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise CorpusError(f"the extract's hash does not match the manifest's ({entry.extract})")
    temporary = target.with_name(target.name + ".part")
    temporary.write_bytes(data)
    temporary.replace(target)


# --- writing the manifest (maintainers, when the corpus changes) -------------------------------

_ROW = re.compile(r"^\|\s*`(?P<path>[^`]+)`\s*\|(?P<rest>.*)$")
_REPO = re.compile(r"\[(?P<repo>[\w.-]+/[\w.-]+)\]\(https://github\.com/")


def build_manifest(shared: Path) -> dict[str, object]:
    """Describe every file of a corpus copy; origins come from its PROVENANCE.md tables."""
    origins: dict[str, dict[str, object]] = {}
    for line in (shared / "PROVENANCE.md").read_text(encoding="utf-8").splitlines():
        row = _ROW.match(line)
        if not row:
            continue
        cells = [cell.strip() for cell in row["rest"].split("|")]
        # | path | bytes | sha256 | source repo | path in repo | commit | license | quirk | notes
        repo = _REPO.search(cells[2]) if len(cells) > 6 else None
        if repo is None:
            continue
        notes = " ".join(cells[5:]).lower()
        extract = None
        if "extracted" in notes:
            extract = "vcr-calendar-body" if "cassette" in notes else "markdown-xml-block"
        origins[row["path"]] = {
            "repo": repo["repo"],
            "source_path": cells[3].strip("`"),
            "commit": cells[4].strip("`"),
            "extract": extract,
        }
    files = []
    for path in sorted(p for p in shared.rglob("*") if p.is_file()):
        relative = path.relative_to(shared).as_posix()
        entry: dict[str, object] = {
            "path": relative,
            "size": path.stat().st_size,
            "sha256": sha256_of(path),
        }
        # Files without a row of their own (the labelled sets, READMEs) are derived or written
        # by the corpus' maintainers: only a local copy provides them.
        entry.update(origins.get(relative, {"local_only": True}))
        files.append(entry)
    return {
        "about": "The real-world test corpus, kept out of the repository: see tests/corpus.py.",
        "files": files,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch or describe the real-world corpus.")
    commands = parser.add_subparsers(dest="command")
    fetch = commands.add_parser("fetch", help="fill the cache folder (default)")
    fetch.add_argument("--from", dest="source", type=Path, help="a local copy of the corpus")
    fetch.add_argument("--origin", default=DEFAULT_ORIGIN, help="where raw files are downloaded")
    fetch.add_argument("--cache", type=Path, default=CACHE)
    manifest = commands.add_parser("manifest", help="rewrite tests/corpus-manifest.json")
    manifest.add_argument("shared", type=Path)
    args = parser.parse_args(argv)
    if args.command == "manifest":
        text = json.dumps(build_manifest(args.shared), ensure_ascii=False, indent=1)
        MANIFEST.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {MANIFEST.relative_to(ROOT)}")
        return 0
    source = getattr(args, "source", None) or (SHARED if SHARED.is_dir() else None)
    cache = getattr(args, "cache", CACHE)
    try:
        copied, downloaded = fill_cache(
            source=source, origin=getattr(args, "origin", DEFAULT_ORIGIN), cache=cache
        )
    except CorpusError as exc:
        print(f"corpus: {exc}", file=sys.stderr)
        return 1
    where = f" from {source}" if copied else ""
    print(
        f"corpus: {len(load_manifest())} files verified in {cache}"
        f" ({copied} copied{where}, {downloaded} downloaded)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
