"""Slips of the keyboard: a word one letter from exactly one word the reader knows is read as it.

A symmetric-delete index (each known word under every variant of it with one letter deleted)
finds the candidates for a word in a few look-ups. Words of CJK scripts are left alone: a slip
there is another character (铜意 for 同意), which only a reading by sound could put right. So are
Arabic ones: written without its short vowels, a word one letter from another is most often
another word (كيس "a cyst", كويس "fine").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dialogs.understanding import _CJK, normalize

_ARABIC = re.compile(r"[\u0600-\u06ff]")


@dataclass(frozen=True)
class Vocabulary:
    known: frozenset[str]  # every word the reader knows as it is
    slips: dict[str, frozenset[str]]  # a word with one letter deleted: the answer words it comes from

    @classmethod
    def of(cls, answers: Iterable[str], other: Iterable[str]) -> Vocabulary:
        """From the phrases that answer (what a slip is put right to) and the other words known."""
        answer_words = {w for p in answers for w in p.split() if not _CJK.search(w) and len(w) >= 2}
        known = frozenset(answer_words | {w for p in other for w in p.split() if not _CJK.search(w)})
        slips: dict[str, set[str]] = {}
        for word in answer_words:
            if len(word) >= 3:
                for variant in _deletes(word) | {word}:
                    slips.setdefault(variant, set()).add(word)
        return cls(known, {k: frozenset(v) for k, v in slips.items()})

    def __hash__(self) -> int:
        return id(self)


def respelled_text(text: str, vocabulary: Vocabulary) -> str | None:
    """`text` with each unknown word that is one slip (a letter missing, added or changed, or two
    swapped) from exactly one known answer word put right; None if nothing was."""
    words = normalize(text).split()
    fixed = []
    for word in words:
        unknown = (
            word not in vocabulary.known
            and not _CJK.search(word)
            and not _ARABIC.search(word)
            and len(word) >= 2
        )
        candidates = _near(word, vocabulary.slips) if unknown else set()
        fixed.append(candidates.pop() if len(candidates) == 1 else word)
    return " ".join(fixed) if fixed != words else None


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _near(word: str, slips: dict[str, frozenset[str]]) -> set[str]:
    found: set[str] = set()
    for variant in _deletes(word) | {word}:
        found |= {w for w in slips.get(variant, ()) if _one_slip(word, w)}
    return found


def _one_slip(a: str, b: str) -> bool:
    """Whether `a` becomes `b` by one deletion, insertion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
        return len(diff) == 1 or swapped
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
