"""The matcher and the merge table as pure functions: normalization, scoring, blocking,
clustering and field precedence."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aggregator.dedupe import (
    MERGE_RULES,
    MatchRecord,
    MatchStats,
    cluster,
    compare,
    content_fingerprint,
    make_record,
    match_pairs,
    merge,
    normalize_street,
    normalize_title,
)
from aggregator.models import CANCELLED

PARIS = ZoneInfo("Europe/Paris")
DAY = datetime(2026, 5, 7, 18, 30, tzinfo=PARIS)


def rec(
    key: str,
    source: str,
    title: str,
    start: datetime = DAY,
    *,
    all_day: bool = False,
    end: datetime | None = None,
    city: str | None = "Redon",
    address: str | None = None,
    name: str | None = None,
    strip: tuple[str, ...] = (),
) -> MatchRecord:
    return make_record(
        key,
        source,
        title,
        start,
        end,
        all_day,
        name=name,
        address=address,
        postcode=None,
        city=city,
        tz=PARIS,
        strip=strip,
    )


def test_title_normalization_drops_noise_but_keeps_meaning() -> None:
    assert normalize_title("[Agenda] Apéro numérique ! 🎉") == "apero numerique"
    assert normalize_title("Samedi 13 juin – 14h30 : Atelier Scratch") == "atelier scratch"
    assert normalize_title("08/08 Atelier vidéo") == "atelier video"
    assert (
        normalize_title("Apéro numérique – La Vilaine Bidouille", strip=["La Vilaine Bidouille"])
        == "apero numerique"
    )
    # Numbers that tell events apart stay; a title is never stripped to nothing.
    assert normalize_title("Formation niveau 2") == "formation niveau 2"
    assert normalize_title("La Vilaine Bidouille", strip=["La Vilaine Bidouille"]) == (
        "vilaine bidouille"
    )
    assert normalize_title("Fest-noz à Creac'h Gwen") == "fest noz creac h gwen"


def test_street_spellings_agree() -> None:
    assert normalize_street("12, r. de la Gare") == normalize_street("12 rue de la gare")
    assert normalize_street("5 bis av. Foch") == normalize_street("5 avenue Foch")


def test_same_event_with_prefix_and_host_name_matches_with_reasons() -> None:
    a = rec(
        "a",
        "bidouille",
        "[Agenda] Apéro numérique – La Vilaine Bidouille",
        strip=("La Vilaine Bidouille",),
    )
    b = rec("b", "cantine", "Apéro numérique", address="12 rue de la Gare")
    decision = compare(a, b)
    assert decision.same and decision.title == 1.0 and decision.time == 1.0
    assert "same start" in decision.describe()


def test_hard_negatives_stay_apart_with_a_reason() -> None:
    weekly = compare(
        rec("a", "s1", "Apéro numérique"),
        rec("b", "s2", "Apéro numérique", DAY + timedelta(days=7)),
    )
    assert not weekly.same
    evening = compare(rec("a", "s1", "Apéro numérique"), rec("b", "s2", "Atelier Scratch"))
    assert not evening.same and evening.veto and "titles" in evening.veto
    towns = compare(
        rec("a", "s1", "Atelier réparation"), rec("b", "s2", "Atelier réparation", city="Rennes")
    )
    assert not towns.same and towns.veto == "different towns (redon / rennes)"
    hours = compare(rec("a", "s1", "Atelier"), rec("b", "s2", "Atelier", DAY + timedelta(hours=2)))
    assert not hours.same and "2.0 h apart" in (hours.veto or "")
    same_source = compare(rec("a", "s1", "Apéro"), rec("b", "s1", "Apéro"))
    assert not same_source.same and "same source" in (same_source.veto or "")


def test_time_agreement_levels() -> None:
    base = rec("a", "s1", "Cartopartie OSM")
    near = compare(base, rec("b", "s2", "Cartopartie OSM", DAY + timedelta(minutes=30)))
    assert near.same and near.time == 0.7
    midnight = DAY.replace(hour=0, minute=0)
    dated = rec(
        "b", "s2", "Cartopartie OSM", midnight, all_day=True, end=midnight + timedelta(days=1)
    )
    assert compare(base, dated).time == 0.6 and compare(base, dated).same
    other_day = rec("c", "s2", "Cartopartie OSM", midnight + timedelta(days=1), all_day=True)
    assert not compare(base, other_day).same


def test_threshold_is_respected() -> None:
    a, b = rec("a", "s1", "Atelier Linux"), rec("b", "s2", "Atelier Linux", city=None)
    decision = compare(a, b, threshold=0.5)
    assert decision.same
    assert not compare(a, b, threshold=decision.score + 0.01).same


def test_blocking_compares_only_same_day_records_sharing_a_word() -> None:
    records = [rec(f"r{i}", f"s{i}", f"Atelier {i}", DAY + timedelta(days=i)) for i in range(50)]
    records += [rec("x", "sx", "Soirée jeux", DAY), rec("y", "sy", "Apéro numérique", DAY)]
    stats = MatchStats()
    match_pairs(records, stats=stats)
    # r0 meets neither x nor y (no common word) nor the records of other days.
    assert stats.compared == 0
    stats = MatchStats()
    same_day = [rec("a", "s1", "Apéro numérique"), rec("b", "s2", "Apéro numérique")]
    assert len(match_pairs(records + same_day, stats=stats)) == 3  # y–a, y–b, a–b
    assert stats.compared == 3


def test_multi_day_events_are_compared_on_overlapping_days() -> None:
    start = datetime(2026, 5, 26, tzinfo=PARIS)
    festival = rec(
        "f",
        "s1",
        "Festival des libertés numériques",
        start,
        all_day=True,
        end=start + timedelta(days=3),
    )
    day_two = rec(
        "g", "s2", "Festival des libertés numériques", start + timedelta(days=1, hours=10)
    )
    [decision] = match_pairs([festival, day_two], keep=lambda d: True)
    assert decision.time == 0.6


def test_cluster_never_chains_two_sessions_through_a_date_only_record() -> None:
    midnight = DAY.replace(hour=0, minute=0)
    dated = rec("d", "s1", "Repair café", midnight, all_day=True, end=midnight + timedelta(days=1))
    morning = rec("m", "s2", "Repair café", DAY.replace(hour=10))
    afternoon = rec("p", "s3", "Repair café", DAY.replace(hour=14))
    records = [dated, morning, afternoon]
    groups = cluster(records, match_pairs(records), 0.75)
    assert sorted(len(g) for g in groups) == [1, 2]
    assert ["m", "p"] not in groups


def test_cluster_keeps_one_record_per_source() -> None:
    records = [rec("a", "s1", "Apéro"), rec("b", "s2", "Apéro"), rec("c", "s2", "Apéro")]
    groups = cluster(records, match_pairs(records), 0.75)
    assert len(groups) == 2


def test_fingerprint_ignores_cosmetic_changes_but_not_the_start() -> None:
    one = content_fingerprint("Apéro  numérique !", DAY, name=None, postcode=None, city="Redon")
    two = content_fingerprint("APÉRO numérique", DAY, name=None, postcode=None, city="REDON")
    three = content_fingerprint(
        "Apéro numérique", DAY + timedelta(days=7), name=None, postcode=None, city="Redon"
    )
    assert one == two != three


def row(source: str, origin: str, first_seen: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source_id": source,
        "origin": origin,
        "first_seen": first_seen,
        "title": f"title from {source}",
        "start": "2026-05-07T16:30:00+00:00",
        "end": None,
        "effective_end": "2026-05-07T16:30:00+00:00",
        "tz": "Europe/Paris",
        "all_day": 0,
        "location_name": None,
        "address": None,
        "postcode": None,
        "city": None,
        "url": None,
        "description": "",
        "categories": "[]",
        "status": "confirmed",
    }
    return base | kw


def test_merge_follows_the_precedence_table() -> None:
    assert set(MERGE_RULES) >= {"title", "location", "description", "status"}
    prose = row(
        "blog",
        "prose",
        "2026-04-01",
        description="Une longue description venue du blog, avec tous les détails.",
        location_name="Cantine",
        address="12 rue de la Gare",
        postcode="35600",
        city="Redon",
        categories='["apéro"]',
        url="https://blog/1",
    )
    ical = row(
        "cal",
        "ical",
        "2026-04-20",
        description="Court.",
        city="Redon",
        categories='["Apéro", "numérique"]',
    )
    dated = row("feed", "feed", "2026-04-02", all_day=1, start="2026-05-06T22:00:00+00:00")
    merged = merge([prose, dated, ical])
    assert merged["title"] == "title from cal"  # iCal ranks first though seen last
    assert merged["start"] == "2026-05-07T16:30:00+00:00" and merged["all_day"] == 0
    assert merged["description"].startswith("Une longue")
    assert merged["address"] == "12 rue de la Gare"
    assert merged["url"] == "https://blog/1"
    assert json.loads(merged["categories"]) == ["Apéro", "numérique"]
    # An explicit time wins over date-only even from a lower-ranked origin.
    timed_prose = merge([row("a", "ical", "1", all_day=1, start="x"), row("b", "prose", "2")])
    assert timed_prose["all_day"] == 0


def test_status_is_the_primary_records() -> None:
    organizer = row("org", "ical", "2026-04-01", status=CANCELLED)
    listing = row("list", "feed", "2026-03-01")
    assert merge([organizer, listing])["status"] == CANCELLED
    assert (
        merge([row("org", "ical", "1"), row("list", "feed", "0", status=CANCELLED)])["status"]
        == "confirmed"
    )
