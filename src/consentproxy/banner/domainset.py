"""The knowledge base's domain names by key (their category) for guard.js, compactly: one
Golomb-coded set (GCS) whose values each carry their key.

Thousands of tracker domains would weigh ~21 KB gzipped as text; so they take about
BITS - log2(keys) + 1.2 bits each, and their key's (1 bit for the key with most names, 2 for
the next...): ~7.3 KB for 3,700 in five keys, at the price of a false positive one lookup in
2**BITS a key, as in one set a key (a host the guard holds though no list names it; the
server's own lookups are exact). Each name is hashed with 32-bit FNV-1a into [0, span); the
sorted values' gaps are Rice-coded (quotient in unary, then `rice` bits) and the bit string
sent six bits a character, in DIGITS. guard.js decodes it once into a Map: lookups are O(1).
"""

from __future__ import annotations

# One lookup in 32,768 a key meets a false positive. 15, not 16: the bit a domain it saves
# (550 B gzipped) paid for the guard's stand-ins within consent.js's 25 KB; none of the 1,882
# hosts the 109 real pages name (tests/e2e/test_realworld.py) meets one at either.
BITS = 15
# The 64 characters minified consent.js uses most (none that JSON or HTML escape), a digit
# each, rather than base64's: gzip codes the sets' characters and the code's with one Huffman
# table, where base64's capitals and digits, rare in code, cost the demo's 240 B more.
DIGITS = "etnor(),iacs.ul=fdp m{}[]gh:y|vw;b!0E1-/?+kSAx_TLCMOjNPD2IRH$^Fq"
# Spans tried for one where no two keys' names share a value: names whose 32-bit hashes are
# equal (about one pair in a list of 100,000) share one in every span, and the spans needed
# grow with the names (100,000: 20 tries).
MAX_SPANS = 64
# [span, rice, count, keys, code]: what guard.js reads (render.client_config's "known")
Table = tuple[int, int, int, list[str], str]


def most_specific(by_key: dict[str, list[str]]) -> dict[str, list[str]]:
    """The sets without the names a lookup that takes the most specific listed name (the
    guard's) never needs: those whose nearest listed parent is in the same set
    (cdn2.lockerdome.com under lockerdome.com): each costs ~2.7 bytes of consent.js."""
    key_of = {name: key for key, names in by_key.items() for name in names}

    def needed(name: str) -> bool:
        dot = name.find(".")
        while dot != -1:
            parent = key_of.get(name[dot + 1 :])
            if parent is not None:
                return parent != key_of[name]
            dot = name.find(".", dot + 1)
        return True

    return {key: [n for n in names if needed(n)] for key, names in by_key.items()}


def unanswered(
    by_key: dict[str, list[str]], exact: set[str], wild: set[str]
) -> dict[str, list[str]]:
    """The sets without the names no lookup of the guard's reaches: the config's own hosts
    answer first for a name listed both exact and wild, or under a wild one (doubleclick.net,
    a service's; stats.g.doubleclick.net under it): each costs consent.js ~2 bytes."""

    def reached(name: str) -> bool:
        if name in exact and name in wild:
            return False
        return not any(name[i + 1 :] in wild for i, c in enumerate(name) if c == ".")

    return {key: [n for n in names if reached(n)] for key, names in by_key.items()}


def fnv1a(name: str) -> int:
    h = 0x811C9DC5
    for byte in name.encode("ascii", "ignore"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def encode(by_key: dict[str, list[str]], bits: int = BITS) -> Table:
    """The names hashed into [0, span), span their count * 2**bits / the number of keys:
    one set whose lookups meet as many false positives as one set a key, each n * 2**bits,
    did, but that pays log2(keys) bits less a name for a label of 1.2 bits or so. Each sorted
    value's gap: (gap >> rice) ones, a zero, the low `rice` bits (rice: the mean gap's
    log2), then the index of its key (most names first) in unary, the last one's without its
    closing zero."""
    keys = sorted((k for k, names in by_key.items() if names), key=lambda k: (-len(by_key[k]), k))
    index = {name: i for i, k in enumerate(keys) for name in by_key[k]}
    hashes = [(fnv1a(name), i) for name, i in index.items()]
    span = max(1, (len(hashes) << bits) // max(1, len(keys)))
    rice = (span // max(1, len(hashes))).bit_length() - 1  # (1 at least: fewer keys than 2**bits)
    tries = 0  # (two names of two keys share a value: the next span, MAX_SPANS at most)
    while (label := _labels(hashes, span, keys, tries == MAX_SPANS)) is None:
        span, tries = span + 1, tries + 1
    stream, last = [], 0
    for v in sorted(label):
        gap, last, i = v - last, v, label[v]
        stream += ["1" * (gap >> rice), "0", format(gap % (1 << rice), f"0{rice}b")]
        stream += ["1" * i, "0" * (i < len(keys) - 1)]
    line = "".join(stream)
    line += "0" * (-len(line) % 6)
    code = "".join(DIGITS[int(line[i : i + 6], 2)] for i in range(0, len(line), 6))
    return span, rice, len(label), keys, code


def _labels(
    hashes: list[tuple[int, int]], span: int, keys: list[str], settle: bool
) -> dict[int, int] | None:
    """Each name's value -> its key's index; None if two keys' names share a value (one of
    them would be looked up in the other's category), unless settle: then the value goes to
    a category over the known non-trackers' "" (held, not let through), else to the key
    with more names."""
    label: dict[int, int] = {}
    for h, i in hashes:
        j = label.setdefault(h % span, i)
        if j != i:
            if not settle:
                return None
            label[h % span] = j if keys[i] == "" else i if keys[j] == "" else min(i, j)
    return label


def decode(span: int, rice: int, count: int, keys: list[str], code: str) -> dict[int, str]:
    """The hash values and their keys (the guard's decoder, in Python: tests check both
    agree)."""
    stream = "".join(f"{DIGITS.index(c):06b}" for c in code)
    pos, last, out = 0, 0, {}

    def bit() -> int:
        nonlocal pos
        pos += 1
        return int(stream[pos - 1])

    for _ in range(count):
        r = 0
        while bit():
            r += 1
        for _ in range(rice):
            r = r * 2 + bit()
        i = 0
        while i < len(keys) - 1 and bit():
            i += 1
        last += r
        out[last] = keys[i]
    return out


def key_of(values: dict[int, str], span: int, name: str) -> str | None:
    """The key a lookup of name finds (None: not listed), false positives included."""
    return values.get(fnv1a(name) % span)
