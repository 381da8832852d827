#!/usr/bin/env python3
"""Developer entry points that need nothing but Python 3.11:

    python3 tasks.py demo   # run the real pipeline on the bundled demo, write output/
    python3 tasks.py test   # the whole test suite (what CI runs)

Each creates or updates the virtualenv in .venv and installs what it needs first.
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


def sh(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT)
    if result.returncode:
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


def ensure_test_tools() -> None:
    """Install what the suite uses to check our outputs with independent readers.

    Node packages (ical.js, rss-parser, axe-core) come from package-lock.json; the browser is
    Debian's chromium (never a downloaded browser build), installed with apt when missing.
    """
    lock = ROOT / "package-lock.json"
    marker = ROOT / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        sh("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
    if not Path(CHROMIUM).exists():
        if shutil.which("apt-get") and os.geteuid() == 0:
            sh("apt-get", "update", "-qq")
            sh("apt-get", "install", "-y", "-qq", "chromium")
        else:
            sys.exit(f"the browser tests need {CHROMIUM}: install Debian's chromium package")


def demo() -> None:
    ensure_venv()
    sh(BIN / "aggregator", "demo")


def test() -> None:
    ensure_venv()
    ensure_test_tools()
    sh(BIN / "ruff", "check", ".")
    sh(BIN / "ruff", "format", "--check", ".")
    sh(BIN / "python", "-m", "pytest", "-n", "2", "-q", *sys.argv[2:])


def check_config() -> None:
    ensure_venv()
    sh(BIN / "aggregator", "sources", "check", "--config", "sources.yaml")


if __name__ == "__main__":
    commands = {"demo": demo, "test": test, "check-config": check_config}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python3 {Path(__file__).name} {{{'|'.join(commands)}}}")
    commands[sys.argv[1]]()
