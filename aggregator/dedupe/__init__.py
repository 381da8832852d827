"""Recognise the same event announced by several sources (or twice by one), and merge what they
say. "Where are events merged?": here.

  text.py     normalization: titles, places (French, US and other conventions), URLs
  model.py    the match model as data: comparisons, levels, weights, term frequencies
  linkage.py  blocking, pair scoring over a pool, clustering, which UID a cluster keeps
  merge.py    the field precedence table and the canonical event of a cluster
  engine.py   reads the store's records, runs the above, writes the result back (imported on
              its own: `aggregator.dedupe.engine`, since it depends on the store)

Everything but engine.py is pure functions over plain records, tested without a database.
"""

from aggregator.dedupe.linkage import MatchStats, assign_uids, cluster, comparable, match_pairs
from aggregator.dedupe.merge import MERGE_RULES, ORIGIN_RANK, merge, precedence_key, refreshed
from aggregator.dedupe.model import (
    COMPARISONS,
    DEFAULT_THRESHOLD,
    MAX_BLOCK_DAYS,
    PRIOR,
    Contribution,
    Decision,
    Level,
    MatchRecord,
    MatchSettings,
    TermFrequencies,
    compare,
    contradiction,
    make_record,
    stored_frequencies,
    term_frequencies,
)
from aggregator.dedupe.text import (
    SourceNames,
    content_fingerprint,
    fold,
    normalize_city,
    normalize_street,
    normalize_title,
    normalize_url,
    parse_place,
    source_names,
)

__all__ = [
    "COMPARISONS",
    "DEFAULT_THRESHOLD",
    "MAX_BLOCK_DAYS",
    "MERGE_RULES",
    "ORIGIN_RANK",
    "PRIOR",
    "Contribution",
    "Decision",
    "Level",
    "MatchRecord",
    "MatchSettings",
    "MatchStats",
    "SourceNames",
    "TermFrequencies",
    "assign_uids",
    "cluster",
    "comparable",
    "compare",
    "content_fingerprint",
    "contradiction",
    "fold",
    "make_record",
    "match_pairs",
    "merge",
    "normalize_city",
    "normalize_street",
    "normalize_title",
    "normalize_url",
    "parse_place",
    "precedence_key",
    "refreshed",
    "source_names",
    "stored_frequencies",
    "term_frequencies",
]
