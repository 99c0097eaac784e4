import re

from hypothesis import given
from hypothesis import strategies as st

from consentproxy.wordtrie import trie_pattern

WORDS = st.lists(
    st.binary(min_size=1, max_size=6).map(lambda b: b.replace(b"\n", b"x")), min_size=1, max_size=20
)


@given(words=WORDS, text=st.binary(max_size=200))
def test_the_trie_finds_what_the_longest_first_alternation_finds(words, text):
    plain = re.compile(b"|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    trie = re.compile(trie_pattern(words))
    assert [m.span() for m in trie.finditer(text)] == [m.span() for m in plain.finditer(text)]


@given(
    words=st.lists(st.from_regex(rb"\A[a-z]{1,6}\Z"), min_size=1, max_size=10),
    text=st.from_regex(rb"\A[a-zA-Z ]{0,60}\Z"),
)
def test_ignore_case_matches_letters_of_either_case(words, text):
    plain = re.compile(
        b"|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE
    )
    trie = re.compile(trie_pattern(words, ignore_case=True))
    assert [m.span() for m in trie.finditer(text)] == [m.span() for m in plain.finditer(text)]
