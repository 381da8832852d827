#!/usr/bin/env python3
"""Developer entry points that need nothing but Python 3.11:

    python3 tasks.py demo     # run the real pipeline on the bundled demo, write output/
    python3 tasks.py test     # the whole test suite (what CI runs)
    python3 tasks.py corpus   # bring the real-world test corpus into .cache/corpus

Each creates or updates the virtualenv in .venv and installs what it needs first. `test` also
installs the independent readers the suite checks our outputs with: Node.js packages from
package-lock.json, Debian's chromium, and a Java runtime for the Nu HTML validator; system
packages are installed with apt when missing and running as root, otherwise it names them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"
CHROMIUM = "/usr/bin/chromium"
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"
# What the suite needs from the system: (command that shows it is there, Debian package).
SYSTEM_TOOLS = [
    ("node", "nodejs"),
    ("npm", "npm"),
    ("java", "default-jre-headless"),
    (CHROMIUM, "chromium"),
]


def sh(*args: str | Path, quiet: bool = False) -> None:
    """Run a command; stop with its exit status if it fails (printing its output when quiet)."""
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run(
        [str(a) for a in args],
        cwd=ROOT,
        capture_output=quiet,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if result.returncode:
        if quiet:
            sys.stderr.write((result.stdout or "")[-4000:] + (result.stderr or "")[-4000:])
        sys.exit(result.returncode)


def ensure_venv() -> None:
    """Create .venv and install the project with its test tools when pyproject.toml changed."""
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    pyproject = ROOT / "pyproject.toml"
    if STAMP.exists() and STAMP.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    sh(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    sh(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[test]")
    STAMP.touch()


def _present(command: str) -> bool:
    return Path(command).exists() if command.startswith("/") else shutil.which(command) is not None


def ensure_system_tools() -> None:
    """Install the missing system packages quietly with apt, or say which ones to install."""
    missing = [package for command, package in SYSTEM_TOOLS if not _present(command)]
    if not missing:
        return
    if not (shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0):
        sys.exit(
            "the test suite needs these packages, install them first (Debian/Ubuntu names): "
            + " ".join(missing)
        )
    sh("apt-get", "update", "-qq", quiet=True)
    sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, quiet=True)


def ensure_test_tools() -> None:
    """Install what the suite uses to check our outputs with independent readers.

    Node packages (ical.js, rss-parser, axe-core) come from package-lock.json; the browser is
    Debian's chromium (never a downloaded browser build).
    """
    ensure_system_tools()
    lock = ROOT / "package-lock.json"
    marker = ROOT / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        sh("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")


def corpus(*args: str) -> None:
    ensure_venv()
    sh(BIN / "python", ROOT / "tests" / "corpus.py", "fetch", *args)


def demo() -> None:
    ensure_venv()
    sh(BIN / "aggregator", "demo")


def test() -> None:
    ensure_venv()
    ensure_test_tools()
    if SHARED_CORPUS.is_dir() and "AGGREGATOR_CORPUS" not in os.environ:
        # A local copy beside the checkout fills the cache (verified); nothing is downloaded.
        sh(BIN / "python", ROOT / "tests" / "corpus.py", "fetch", "--from", SHARED_CORPUS)
    sh(BIN / "ruff", "check", ".")
    sh(BIN / "ruff", "format", "--check", ".")
    sh(BIN / "python", "-m", "pytest", "-n", "2", "-q", *sys.argv[2:])


def check_config() -> None:
    ensure_venv()
    sh(BIN / "aggregator", "sources", "check", "--config", "sources.yaml")


if __name__ == "__main__":
    commands = {"demo": demo, "test": test, "corpus": corpus, "check-config": check_config}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python3 {Path(__file__).name} {{{'|'.join(commands)}}}")
    if sys.argv[1] == "corpus":
        corpus(*sys.argv[2:])
    else:
        commands[sys.argv[1]]()
