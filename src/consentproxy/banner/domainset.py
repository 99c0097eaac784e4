"""A compact set of domain names for guard.js: a Golomb-coded set (GCS).

Thousands of tracker domains would weigh ~21 KB gzipped as text; as a GCS they take about
BITS + 1.5 bits each (~7.6 KB for 3,700), at the price of a false positive one lookup in
2**BITS (a host the guard holds though no list names it; the server's own lookups are
exact). Each name is hashed with 32-bit FNV-1a into [0, n * 2**BITS); the sorted values'
gaps are Rice-coded (quotient in unary, then BITS bits) and the bit string sent six bits a
character, in DIGITS. guard.js decodes it once into a Set: lookups are O(1).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

# One lookup in 32,768 meets a false positive. 15, not 16: the bit a domain it saves (550 B
# gzipped) paid for the guard's stand-ins within consent.js's 25 KB; none of the 1,882 hosts
# the 109 real pages name (tests/e2e/test_realworld.py) meets one at either.
BITS = 15
# The 64 characters minified consent.js uses most (none that JSON or HTML escape), a digit
# each, rather than base64's: gzip codes the sets' characters and the code's with one Huffman
# table, where base64's capitals and digits, rare in code, cost the demo's 240 B more.
DIGITS = "etnor(),iacs.ul=fdp m{}[]gh:y|vw;b!0E1-/?+kSAx_TLCMOjNPD2IRH$^Fq"
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_TO_DIGITS = bytes.maketrans(_BASE64, DIGITS.encode())
_FROM_DIGITS = bytes.maketrans(DIGITS.encode(), _BASE64)


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


def fnv1a(name: str) -> int:
    h = 0x811C9DC5
    for byte in name.encode("ascii", "ignore"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def encode(names: Iterable[str], bits: int = BITS) -> tuple[int, str]:
    """(the range hashes are taken modulo, the Rice code of the sorted values in DIGITS)."""
    names = set(names)
    span = max(1, len(names)) << bits
    values = sorted({fnv1a(n) % span for n in names})
    out, acc, used, last = bytearray(), 0, 0, 0
    for v in values:
        gap, last = v - last, v
        # (gap >> bits) ones, a zero, then the low `bits` bits, most significant first
        for bit in [1] * (gap >> bits) + [0] + [(gap >> i) & 1 for i in range(bits - 1, -1, -1)]:
            acc, used = (acc << 1) | bit, used + 1
            if used == 8:
                out.append(acc)
                acc, used = 0, 0
    if used:
        out.append(acc << (8 - used))
    digits = base64.b64encode(bytes(out)).rstrip(b"=").translate(_TO_DIGITS).decode("ascii")
    return span, f"{digits}~{len(values)}"


def decode(span: int, code: str, bits: int = BITS) -> set[int]:
    """The hash values (the guard's decoder, in Python: tests check both agree)."""
    data, _, count = code.rpartition("~")
    raw = base64.b64decode(data.encode().translate(_FROM_DIGITS) + b"=" * (-len(data) % 4))
    pos, last, out = 0, 0, set()

    def bit() -> int:
        nonlocal pos
        b = (raw[pos >> 3] >> (7 - (pos & 7))) & 1
        pos += 1
        return b

    for _ in range(int(count)):
        q = 0
        while bit():
            q += 1
        r = 0
        for _ in range(bits):
            r = (r << 1) | bit()
        last += (q << bits) | r
        out.add(last)
    return out


def contains(values: set[int], span: int, name: str) -> bool:
    return fnv1a(name) % span in values
