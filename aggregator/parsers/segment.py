"""A post's text as blocks: headings, paragraphs and list items, each with its position.

The prose reader decides what a date means from where it stands: a date that opens a list item
is a session of a programme, a date alone on its line is a heading for the lines below it, a
time in the next paragraph belongs to the only date of the post. Those rules need the
document's blocks, not a flat string (the approach of trafilatura and readability).

The input is the plain text our HTML-to-text step produces: a blank line between blocks
(<p>, <div>, headings), a single line break for <br> and <li>. Inside a paragraph, a single line
break is either a list item or a soft wrap of the source ("se déroulera le mercredi 5\\noctobre");
a line is its own block only when it looks like one (a bullet, or the previous line ends a
sentence or is short).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Final

HEADING: Final = "heading"
PARAGRAPH: Final = "paragraph"
ITEM: Final = "item"

_BULLET_RE: Final = re.compile(r"^(?:[*•·▪◦‣⁃–—-]\s|\d{1,2}[.)]\s|[^\w\s(«\"'~])")
_SENTENCE_END: Final = (".", "!", "?", ":", ";", "…", ")")
_HEADING_MAX: Final = 70


@dataclass(frozen=True, slots=True)
class Block:
    """One block of a document: its kind, its text and where it starts and ends."""

    kind: str
    start: int
    end: int
    text: str
    paragraph: int  # blocks of one source paragraph share this number


def segment(text: str) -> list[Block]:
    """The blocks of `text`, in order; offsets are positions in `text`."""
    blocks: list[Block] = []
    for paragraph, match in enumerate(re.finditer(r"[^\n](?:[^\n]|\n(?!\n))*", text)):
        lines = _lines(match.group(), match.start())
        groups: list[list[tuple[int, str]]] = []
        for start, line in lines:
            if groups and not _starts_block(groups[-1][-1][1], line):
                groups[-1].append((start, line))
            else:
                groups.append([(start, line)])
        for group in groups:
            start = group[0][0]
            end = group[-1][0] + len(group[-1][1])
            body = text[start:end]
            blocks.append(Block(_kind(body, len(groups) > 1), start, end, body, paragraph))
    return blocks


def _lines(chunk: str, offset: int) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    position = offset
    for line in chunk.split("\n"):
        if line.strip():
            found.append((position, line))
        position += len(line) + 1
    return found


def _starts_block(previous: str, line: str) -> bool:
    """Whether `line` opens a new block rather than continuing `previous` (a soft wrap)."""
    stripped = line.lstrip()
    if _BULLET_RE.match(stripped):
        return True
    tail = previous.rstrip()
    if tail.endswith(_SENTENCE_END) or len(tail) < 45:
        return True
    return stripped[:1].isupper() and not tail[-1:].isalpha()


def _kind(body: str, in_list: bool) -> str:
    stripped = body.strip()
    if _BULLET_RE.match(stripped) or (in_list and "\n" not in stripped):
        return ITEM
    if len(stripped) <= _HEADING_MAX and not stripped.endswith((".", ",", ";")):
        return HEADING
    return PARAGRAPH


def block_at(blocks: list[Block], position: int) -> int:
    """Index of the block holding `position` (the last block starting at or before it)."""
    return max(bisect.bisect_right(blocks, position, key=lambda block: block.start) - 1, 0)
