"""Fuzzing every file and option an operator writes: the config (from the real ones, mutated at
the YAML node level), tracker lists, the cookie database, an i18n file and --state. Property:
the reader returns, or raises a UserError whose message starts with the file (and line) or the
option; never another exception, never a hang. Deterministic and short in `make test`;
`make fuzz` runs it for long (FUZZ_EXAMPLES)."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentproxy.catalog import I18N_DIR, _translations
from consentproxy.catalog.knowledge import BUILTIN_FILE, parse_layer, read_layer
from consentproxy.catalog.ocd import DATABASE_FILE, parse_database
from consentproxy.config import parse_config
from consentproxy.consent import parse_state
from consentproxy.errors import UserError
from tests import configs
from tests.conftest import ROOT

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # (a loaded CI machine is slow; `bounded` catches a hang instead)
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECONDS = 10  # an example's bound: a reader takes milliseconds, a hang for ever

STR, INT, FLOAT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
# Texts an operator (or a slip) may write where a word, a host, a selector or a file is meant,
# some chosen to be slow for a careless pattern ("(a+)+$" as a regex, 30 a's and a "!").
WEIRD_TEXTS = (
    "",
    " ",
    "a\x00b",
    "\x1b[2J",
    "\u200b",
    "\ud800",
    "é" * 3,
    "x" * 100_000,
    "a" * 5000 + "!",
    "(a+)+$",
    "[",
    "*",
    "*.com",
    "*.co.uk",
    "http://",
    "https://example.com/a b",
    "/dev/zero",
    "/",
    "..",
    "-",
    ".",
    "a.b." * 2000,
    "#" + "a" * 300 + "[",
    "service:",
    "<script>",
)
# Scalars of every other type: (tag, value) as YAML writes them.
WEIRD_SCALARS = (
    (INT, "0"),
    (INT, "-1"),
    (INT, "1" + "0" * 400),
    (INT, "0x1F"),
    (INT, "1:30"),
    (FLOAT, ".inf"),
    (FLOAT, "-.inf"),
    (FLOAT, ".nan"),
    (FLOAT, "1e400"),
    (FLOAT, "1.5"),
    ("tag:yaml.org,2002:bool", "true"),
    ("tag:yaml.org,2002:bool", "no"),
    ("tag:yaml.org,2002:null", "~"),
    ("tag:yaml.org,2002:timestamp", "2024-01-01"),
    ("tag:yaml.org,2002:timestamp", "2001-12-14t21:59:43.10-05:00"),
    ("tag:yaml.org,2002:binary", "aGVsbG8="),
    ("tag:yaml.org,2002:binary", "!!!"),
    ("!custom", "x"),
    (INT, "abc"),
)


def scalar(tag: str, value: str) -> yaml.ScalarNode:
    return yaml.ScalarNode(tag, value)


def weird_node(choice: int) -> yaml.Node:
    """A fresh node of another type: a text, a scalar, a list, a mapping or deep nesting."""
    made: list[Callable[[], yaml.Node]] = [
        *(lambda t=t: scalar(STR, t) for t in WEIRD_TEXTS),  # type: ignore[misc]
        *(lambda t=t, v=v: scalar(t, v) for t, v in WEIRD_SCALARS),  # type: ignore[misc]
        lambda: yaml.SequenceNode("tag:yaml.org,2002:seq", []),
        lambda: yaml.SequenceNode("tag:yaml.org,2002:seq", [scalar(INT, "1"), scalar(STR, "")]),
        lambda: yaml.MappingNode("tag:yaml.org,2002:map", []),
        lambda: yaml.MappingNode("tag:yaml.org,2002:map", [(scalar(STR, "a"), scalar(INT, "1"))]),
        lambda: yaml.MappingNode("tag:yaml.org,2002:set", [(scalar(STR, "a"), scalar(STR, ""))]),
        lambda: yaml.SequenceNode(STR, [scalar(STR, "a")]),  # (`!!str [a]`: a list still)
        lambda: yaml.MappingNode(STR, [(scalar(STR, "a"), scalar(STR, "b"))]),
        lambda: yaml.ScalarNode("tag:yaml.org,2002:map", "a"),
        lambda: nested(60),
    ]
    return made[choice % len(made)]()


def nested(depth: int) -> yaml.Node:
    node: yaml.Node = scalar(STR, "x")
    for _ in range(depth):
        node = yaml.SequenceNode("tag:yaml.org,2002:seq", [node])
    return node


def slots(root: yaml.Node) -> list[tuple[yaml.Node, int]]:
    """Every place a value sits: (its mapping or list, its index), each node visited once."""
    out, seen, todo = [], set(), [root]
    while todo:
        node = todo.pop()
        if id(node) in seen or not isinstance(node, yaml.CollectionNode):
            continue
        seen.add(id(node))
        for i, item in enumerate(node.value):
            out.append((node, i))
            todo.extend(item if isinstance(node, yaml.MappingNode) else (item,))
    return out


def misspelt(key: yaml.Node, how: int) -> yaml.Node:
    text = str(key.value) if isinstance(key, yaml.ScalarNode) else "key"
    forms = (
        text[1:2] + text[:1] + text[2:],
        text[:-1],
        text + "s",
        text.upper(),
        text.replace("_", "-"),
        "<<",
    )
    return scalar(STR, forms[how % len(forms)])


def mutate(root: yaml.Node, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
    """One change at a slot: a value replaced (by another type, or by another node of the
    tree: an alias, or a cycle), a key removed, doubled, misspelt, made a list, a merge key
    added; nesting changed (a value wrapped in a list or mapping, a list unwrapped)."""
    places = slots(root)
    if not places:
        return
    parent, i = draw(st.sampled_from(places))
    mapping = isinstance(parent, yaml.MappingNode)
    value = parent.value[i][1] if mapping else parent.value[i]
    op = draw(st.integers(0, 8 if mapping else 4))
    new: yaml.Node = value
    if op == 0:
        new = weird_node(draw(st.integers(0, 200)))
    elif op == 1:
        new = draw(st.sampled_from([n for p, j in places for n in _nodes(p, j)]))
    elif op == 2:
        new = yaml.SequenceNode("tag:yaml.org,2002:seq", [value])
    elif op == 3:
        new = yaml.MappingNode("tag:yaml.org,2002:map", [(scalar(STR, "value"), value)])
    elif op == 4 and isinstance(value, yaml.CollectionNode) and value.value:
        first = value.value[0]
        new = first[1] if isinstance(value, yaml.MappingNode) else first
    elif op == 5:
        del parent.value[i]
        return
    elif op == 6:
        parent.value.insert(i, parent.value[i])
        return
    elif op == 7:
        key = parent.value[i][0]
        parent.value[i] = (
            misspelt(key, draw(st.integers(0, 5)))
            if draw(st.booleans())
            else weird_node(draw(st.integers(0, 200))),
            value,
        )
        return
    elif op == 8:
        parent.value.insert(i, (scalar("tag:yaml.org,2002:merge", "<<"), weird_node(i)))
        return
    if mapping:
        parent.value[i] = (parent.value[i][0], new)
    else:
        parent.value[i] = new


def _nodes(parent: yaml.Node, i: int) -> tuple[yaml.Node, ...]:
    item = parent.value[i]
    return (parent, *item) if isinstance(parent, yaml.MappingNode) else (parent, item)


class TookTooLong(Exception):
    """An example past SECONDS: a hang, not a reader's milliseconds."""


@contextmanager
def bounded(seconds: float = SECONDS) -> Iterator[None]:
    def alarm(*_: object) -> None:
        raise TookTooLong(f"more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refused_or_read(read: Callable[[], object], *where: str) -> None:
    """The property: read() returns, or says the user's mistake starting with `where` (the
    file, or the option): anything else escaping is a bug."""
    with bounded():
        try:
            read()
        except UserError as e:
            assert str(e).startswith(tuple(f"{w}:" for w in where)), str(e)


# --- the config --------------------------------------------------------------------------


def readme_configs() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    return [b for b in blocks if b.startswith("upstream:")]  # (not the fragments)


SEEDS = [
    *((p.name, p.read_text(encoding="utf-8")) for p in sorted((ROOT / "config").glob("*.yaml"))),
    *((f"readme-{i}.yaml", t) for i, t in enumerate(readme_configs())),
    *(
        (f"{name.lower()}.yaml", text)
        for name, text in sorted(vars(configs).items())
        if name.isupper() and isinstance(text, str)
    ),
]
TRACKER_LINES = BUILTIN_FILE.read_text(encoding="utf-8").splitlines()[:40]
COOKIE_LINES = DATABASE_FILE.read_text(encoding="utf-8").splitlines()[:40]


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the seeds are read from, with the files README's config names beside them."""
    folder = tmp_path_factory.mktemp("configs")
    (folder / "tracker-list.tsv").write_text("\n".join(TRACKER_LINES) + "\n", encoding="utf-8")
    (folder / "banner-extra.css").write_text(".consent-banner { color: red }\n")
    return folder


def test_the_seeds_are_read_before_they_are_mutated(config_dir):
    for name, text in SEEDS:
        parse_config(text, str(config_dir / name))
    assert len(SEEDS) >= 5


@FUZZ
@given(st.data())
def test_a_mutated_config_is_read_or_refused_at_its_file_and_line(config_dir, data):
    name, text = data.draw(st.sampled_from(SEEDS))
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(root, data.draw)
    source = str(config_dir / name)
    refused_or_read(lambda: parse_config(yaml.serialize(root), source), source)


# --- tracker lists, the cookie database, i18n files, --state ------------------------------

line_edits = st.one_of(
    st.sampled_from(WEIRD_TEXTS),
    st.text(alphabet=st.sampled_from("\t\r\n\x00\x85 .-*#a,\"'é\u2028"), max_size=20),
)


@st.composite
def edited_lines(draw: Callable[[st.SearchStrategy[Any]], Any], lines: list[str], sep: str):
    """The lines with a few fields replaced, dropped or added, or lines doubled or joined."""
    lines = list(lines)
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, len(lines) - 1))
        fields = lines[n].split(sep)
        k = draw(st.integers(0, len(fields) - 1))
        op = draw(st.integers(0, 4))
        if op == 0:
            fields[k] = draw(line_edits)
        elif op == 1:
            del fields[k]
        elif op == 2:
            fields.insert(k, draw(line_edits))
        elif op == 3:
            lines.insert(n, lines[n])
        else:
            fields[k] += draw(line_edits)
        lines[n] = sep.join(fields)
    return "\n".join(lines) + "\n"


@FUZZ
@given(edited_lines(TRACKER_LINES, "\t"))
def test_an_edited_tracker_list_is_read_or_refused_at_its_line(text):
    refused_or_read(lambda: parse_layer(text, "list.tsv"), "list.tsv")


@FUZZ
@given(edited_lines(TRACKER_LINES, "\t"), st.binary(max_size=4))
def test_a_tracker_list_file_is_read_or_refused_naming_it(tmp_path_factory, text, junk):
    path = tmp_path_factory.mktemp("lists") / "list.tsv"
    path.write_bytes(text.encode("utf-8", "surrogatepass") + junk)
    # (a line's mistake names the file alone: `tracker_lists` says where it is)
    refused_or_read(lambda: read_layer(path), str(path), path.name)


@FUZZ
@given(edited_lines(COOKIE_LINES, ","))
def test_an_edited_cookie_database_is_read_or_refused_at_its_line(text):
    refused_or_read(lambda: parse_database(text, "cookies.csv"), "cookies.csv")


I18N_SEED = "\n".join((I18N_DIR / "fr.yaml").read_text(encoding="utf-8").splitlines()[:20])


@FUZZ
@given(st.data())
def test_a_mutated_i18n_file_is_read_or_refused_at_its_line(tmp_path_factory, data):
    root = yaml.compose(I18N_SEED, Loader=yaml.SafeLoader)
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(root, data.draw)
    path = tmp_path_factory.mktemp("i18n") / "fr.yaml"
    path.write_text(yaml.serialize(root), encoding="utf-8", errors="surrogatepass")
    refused_or_read(lambda: _translations(path), str(path))


STATE_CONFIG = parse_config(configs.FOUR_CATEGORIES + "services: [{use: youtube}]\n")


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.sampled_from(("none", "all", "reject", "cookie", "analytics", "service:youtube")),
            st.sampled_from(WEIRD_TEXTS),
            st.text(max_size=30),
        ),
        max_size=5,
    ).map(",".join)
)
def test_a_state_option_is_read_or_refused_naming_the_option(spec):
    refused_or_read(lambda: parse_state(spec, STATE_CONFIG, "--state"), "--state")
