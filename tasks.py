#!/usr/bin/env python3
"""Developer entry points that need nothing but Python 3.11:

    python3 tasks.py demo   # run the real pipeline on the bundled demo, write output/
    python3 tasks.py test   # the whole test suite (what CI runs)

Each creates or updates the virtualenv in .venv and installs what it needs first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


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


def demo() -> None:
    ensure_venv()
    sh(BIN / "aggregator", "demo")


def test() -> None:
    ensure_venv()
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
