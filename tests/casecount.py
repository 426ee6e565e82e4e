"""Counts of generated test cases (hypothesis examples, kill/resume rounds, ...), printed by
conftest's terminal summary so that a CI log states how many cases ran."""
import collections

COUNTS: "collections.Counter[str]" = collections.Counter()


def tick(name: str, n: int = 1) -> None:
    COUNTS[name] += n
