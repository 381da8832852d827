"""The bundled demo: serve fictional collectives' files over loopback HTTP and run the pipeline."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from aggregator import pipeline
from aggregator.config import load_config
from aggregator.demo.content import render_demo_site
from aggregator.demo.server import LoopbackServer


def run_demo(
    out_dir: Path,
    db_path: Path,
    now: datetime,
    *,
    on_status: Callable[[str], None] | None = None,
) -> pipeline.RunReport:
    """Render the demo sources dated relative to `now`, serve them, fetch, store and publish."""
    say = on_status or (lambda _message: None)
    with tempfile.TemporaryDirectory(prefix="aggregator-demo-") as tmp:
        site = Path(tmp)
        with LoopbackServer(root=site) as server:
            config_path = render_demo_site(now.date(), site, server.url("/"))
            say(f"demo sources served at {server.url('/')}")
            config = load_config(config_path)
            report = pipeline.run(config, db_path, out_dir, now)
        say("demo server stopped")
    return report
