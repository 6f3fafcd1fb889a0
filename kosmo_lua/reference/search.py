"""``docs.search`` and ``lua_search_docs``: integration functions ranked for a phrase.

Agents ask in their own words ("tail log of failed job"), not in function names. So every
function is indexed by the words of the tool table itself, each field with a weight: its
name's parts weigh most, then its aliases, its summary, its parameters' names (``tail`` finds
``get_job_log``: parameter names are the synonyms), what it returns (its ``returns`` text and
the records its result type names: ``LogMatch`` is "log match"), and last the parameters'
descriptions and notes; a function whose name the query mostly covers ranks higher still.
Words are compared as stems (``builds``, ``failed``, ``finishes``), words that mean nothing
to a search (``of``, ``the``) are dropped, and a word found in few functions counts more
than one found in most (``build`` is everywhere). A function need not hold every word;
holding more of them ranks it higher.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from .. import shapes
from ..tools import WITH_META, Integration, Tool

# Field weights: a word of the function's name says most about it.
NAME, ALIAS, SUMMARY, PARAM_NAME, RETURNS, DESCRIPTION = 8.0, 6.0, 4.0, 3.0, 2.0, 1.0
# Words of a query that say nothing of which function is meant.
_STOP = (
    "a an the of for to on in at by with and or from into onto is are be been it its my me i"
    " we our this that these those what which how do does can all any some one each please"
    " show"
)
STOP_WORDS = frozenset(_STOP.split())
# The one hand-kept list: words agents use that no tool table says (tables say tail, retry).
SYNONYMS = {
    "last": ("tail",),
    "first": ("head",),
    "rerun": ("retry", "rebuild"),
    "restart": ("retry",),
}
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")  # LogMatch → Log Match


def stem(word: str) -> str:
    """A crude English stem, enough to meet plurals and tenses: builds, failed, finishes,
    retries, running → build, fail, finish, retry, run."""
    if len(word) <= 3:
        return word
    if word.endswith(("ies", "ied")) and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed", "ure", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # running → run, stopped → stop (but not call, pass)
            break
    return word


def terms(text: str) -> list[str]:
    """The stems of ``text``'s words, stop words left out (``job_id`` is two words)."""
    return [stem(word) for word in _WORD.findall(text.lower()) if word not in STOP_WORDS]


class SearchIndex:
    """Every function's stems with the weight of the best field each appears in."""

    def __init__(self, integrations: Iterable[Integration]) -> None:
        self.entries: list[tuple[str, Tool, dict[str, float], set[str]]] = [
            (
                f"{integration.name}.{tool.name}",
                tool,
                _weights(integration, tool),
                set(terms(tool.name)),
            )
            for integration in integrations
            for tool in integration.tools
        ]
        counts: dict[str, int] = {}
        for _, _, weights, _ in self.entries:
            for term in weights:
                counts[term] = counts.get(term, 0) + 1
        total = len(self.entries)
        # Rarer words say more: log(1 + N/df), so a word in every function still counts a bit.
        self.rarity = {term: math.log(1 + total / n) for term, n in counts.items()}

    def search(self, query: str, limit: int = 20) -> list[tuple[str, Tool]]:
        """The functions that hold any word of ``query``, best first."""
        wanted = [(term, *SYNONYMS.get(term, ())) for term in dict.fromkeys(terms(query))]
        scored = []
        for name, tool, weights, named in self.entries:
            score = self._score(wanted, weights, named)
            if score:
                scored.append((-score, name, tool))
        scored.sort(key=lambda row: (row[0], row[1]))
        return [(name, tool) for _, name, tool in scored[:limit]]

    def _score(
        self, wanted: list[tuple[str, ...]], weights: dict[str, float], named: set[str]
    ) -> float:
        found: list[str] = []
        score = 0.0
        for choices in wanted:  # a word, or else its synonym, whichever scores more
            worth = {term: weights[term] * self.rarity[term] for term in choices if term in weights}
            if worth:
                best = max(worth, key=worth.__getitem__)
                found.append(best)
                score += worth[best]
        if not found:
            return 0.0
        # Held words, and a name the query covers most of: retry_job before
        # retry_failed_jobs for "retry a job".
        share = len(named.intersection(found)) / len(named)
        return score * (1 + share) * (0.5 + 0.5 * len(found) / len(wanted))


def _weights(integration: Integration, tool: Tool) -> dict[str, float]:
    fields = [
        (NAME, tool.name),
        (ALIAS, " ".join(tool.aliases)),
        (SUMMARY, tool.summary),
        (PARAM_NAME, " ".join(p.name for p in tool.params if p.name != WITH_META.name)),
        (RETURNS, " ".join([tool.returns, *_record_words(integration, tool)])),
        (DESCRIPTION, " ".join([tool.notes, *(p.description for p in tool.params)])),
    ]
    weights: dict[str, float] = {}
    for weight, text in fields:
        for term in terms(text):
            weights[term] = max(weights.get(term, 0.0), weight)
    return weights


def _record_words(integration: Integration, tool: Tool) -> list[str]:
    """The records ``tool``'s result type names, as words (``LogMatch[]`` → "Log Match")."""
    if not tool.result:
        return []
    named = shapes.names(shapes.parse(tool.result))
    return [_CAMEL.sub(" ", name) for name in dict.fromkeys(named) if name in integration.records]
