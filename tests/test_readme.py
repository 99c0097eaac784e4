"""The commands the docs give a newcomer run as written: each `make` target exists, each
`consentproxy` command takes the flags shown, and mitmproxy is started on loopback only."""

from __future__ import annotations

import argparse
import ast
import re

import pytest

from consentproxy.cli import build_parser
from tests.conftest import ROOT

DOCS = [
    "README.md",
    "docs/ARCHITECTURE.md",
    "docs/SECURITY.md",
    "addons/README.md",
    "docker/README.md",
]


def code(doc: str) -> list[str]:
    """The commands of a doc: fenced blocks with their continued lines joined (a trailing
    backslash, or an indented line of options), then inline code."""
    text = (ROOT / doc).read_text()
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)
    joined = [re.sub(r"\\\n\s*|\n\s+(?=\[|--)", " ", b) for b in blocks]
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    return [line for b in joined for line in b.splitlines()] + inline


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {
        name: sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
    }


@pytest.mark.parametrize("doc", DOCS)
def test_every_make_target_named_is_the_makefiles(doc):
    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    named = {t for line in code(doc) for t in re.findall(r"(?:^|\s)make ([\w-]+)", line)}
    assert sorted(named - targets) == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_consentproxy_command_shown_takes_its_flags(doc):
    unknown = []
    for line in code(doc):
        for m in re.finditer(r"(?:^|[\s/])consentproxy ((?:[a-z][a-z-]* ?)+)([^#]*)", line):
            parser, words = build_parser(), m[1].split()
            if words[0] not in subcommands(parser):
                continue  # prose in code: "consentproxy demo: the legacy site"
            while words and words[0] in subcommands(parser):
                parser = subcommands(parser)[words.pop(0)]
            flags = {f for a in parser._actions for f in a.option_strings}
            unknown += [
                (m[0], f) for f in re.findall(r"(?<![\w-])--[a-z][\w-]*", m[2]) if f not in flags
            ]
    assert unknown == []


@pytest.mark.parametrize("doc", DOCS)
def test_mitmproxy_is_started_on_loopback_as_serve_is(doc):
    """mitmproxy binds every interface by default: a forward-mode recipe copied as written
    was an open proxy for the whole network."""
    started = [
        line
        for line in code(doc)
        if re.search(r"\bmitm(dump|web|proxy) .*-s ", line) and "--options" not in line
    ]
    assert [line for line in started if "--listen-host 127.0.0.1" not in line] == []


def test_the_addons_own_recipes_start_mitmproxy_on_loopback_too():
    """addons/consent.py's docstring, the first thing a reader of the addon sees, gave its two
    commands without --listen-host (the forward one, copied, an open proxy), and its `\\`
    continuations, in a plain string, joined each into one line of spaces."""
    doc = ast.get_docstring(ast.parse((ROOT / "addons" / "consent.py").read_text())) or ""
    joined = re.sub(r"\\\n\s*", " ", doc)
    started = [line for line in joined.splitlines() if re.search(r"\bmitmdump .*-s ", line)]
    assert len(started) == 2
    assert [line for line in started if "--listen-host 127.0.0.1" not in line] == []
    assert "\\\n" in doc  # each command continued on its next line, as a shell reads it
