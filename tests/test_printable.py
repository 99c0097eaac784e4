"""Strings from pages and visitors as one line of plain characters (scan, observe)."""

from consentproxy.printable import printable


def test_every_control_character_is_written_as_python_writes_it_and_the_rest_kept():
    said = "\x1b]0;t\x07\n\x7f\x9b2J\x85\u2028\u2029\ud800é€\u200b key"
    assert printable(said) == "\\x1b]0;t\\x07\\n\\x7f\\x9b2J\\x85\\u2028\\u2029\\ud800é€\u200b key"
    assert printable("plain: ünïcode, 日本") == "plain: ünïcode, 日本"
    # (a bidirectional override showed 'allowed' for what the page wrote as 'dewolla')
    assert printable("\u202edewolla\u2066x\u2069") == "\\u202edewolla\\u2066x\\u2069"
