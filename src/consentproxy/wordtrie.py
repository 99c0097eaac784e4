"""Many literal words as one regex that stays fast as the list grows.

Python's re tries the branches of an alternation one after the other at every position,
so `a|b|c|...` costs in proportion to the number of words. The same words as a trie
(`(?:a(?:b|c)|d)`) branch once per distinct next byte: near-flat in the number of words.
"""

from __future__ import annotations

import re

Node = dict[int, "Node"]
END = -1  # key marking that a word ends at this node


def trie_pattern(words: list[bytes], ignore_case: bool = False) -> bytes:
    """A regex source matching any of words, longest first; with ignore_case, ASCII
    letters match either case (words are given in lowercase)."""
    root: Node = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[END] = {}

    def emit(node: Node) -> bytes:
        alts = [
            (b"[%c%c]" % (c, c - 32) if ignore_case and 97 <= c <= 122 else re.escape(bytes([c])))
            + emit(sub)
            for c, sub in sorted(node.items())
            if c != END
        ]
        if not alts:
            return b""
        body = b"(?:" + b"|".join(alts) + b")"
        return body + b"?" if END in node else body

    return emit(root)
