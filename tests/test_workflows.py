"""The GitHub workflows do what the README promises (read as data, step by step)."""

from __future__ import annotations

from pathlib import Path

import yaml
from test_cli import invoke

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def steps(name: str) -> list[dict]:  # type: ignore[type-arg]
    workflow = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    [job] = [j for j in workflow["jobs"].values() if "steps" in j and len(j["steps"]) > 2]
    return job["steps"]


def index_of(all_steps: list[dict], needle: str) -> int:  # type: ignore[type-arg]
    matches = [i for i, s in enumerate(all_steps) if needle in str(s.get("run", s.get("uses")))]
    assert len(matches) == 1, needle
    return matches[0]


def test_publish_survives_cache_eviction_and_never_saves_a_failed_state() -> None:
    s = steps("publish.yml")
    pages = index_of(s, "actions/configure-pages")
    cache = index_of(s, "actions/cache/restore")
    restore = index_of(s, "aggregator state restore")
    run = index_of(s, "aggregator run")
    snapshot = index_of(s, "aggregator state save")
    save = index_of(s, "actions/cache/save")
    upload = index_of(s, "upload-pages-artifact")
    assert pages < cache < restore < run < snapshot < upload
    assert run < save
    # The snapshot is restored only when the cache had nothing, from the live site.
    assert s[restore]["if"] == "steps.cache.outputs.cache-matched-key == ''"
    assert "--missing-ok" in s[restore]["run"]
    assert "steps.pages.outputs.base_url" in s[restore]["run"]
    # The Pages address is the base URL unless sources.yaml sets one.
    assert "--base-url" in s[run]["run"] and "steps.pages.outputs.base_url" in s[run]["run"]
    assert "output/state/aggregator-state.tar.gz" in s[snapshot]["run"]
    # Nothing is saved after a failed step (no `always()`).
    assert s[save]["if"] == "success()" and "if" not in s[snapshot]


def test_tests_workflow_fetches_the_corpus_then_runs_ci() -> None:
    s = steps("tests.yml")
    assert index_of(s, "python3 tasks.py corpus") < index_of(s, "bash .ci/run")


def test_missing_snapshot_is_fine_only_when_allowed(tmp_path: Path) -> None:
    db = tmp_path / "agenda.db"
    code, output = invoke("state", "restore", str(tmp_path / "none.tar.gz"), "--db", str(db))
    assert code == 1 and "no snapshot at" in output
    code, output = invoke(
        "state", "restore", str(tmp_path / "none.tar.gz"), "--db", str(db), "--missing-ok"
    )
    assert code == 0 and "starting with a new database" in output
    assert not db.exists()
