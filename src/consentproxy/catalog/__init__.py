"""The built-in service catalog's data files (services.yaml, i18n/, the tracker knowledge base,
the Open Cookie Database). config.py reads services.yaml with the reader of a config's own
`services:` (`builtin_services`), so this package never imports the reader; what it reads here
is i18n/LANG.yaml, each service's words in that language (`translated`), a contributor's slip
refused with its file and line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from consentproxy.errors import ConfigError, yaml_tree
from consentproxy.settings import Service

CATALOG_FILE = Path(__file__).with_name("services.yaml")
I18N_DIR = Path(__file__).with_name("i18n")
CATALOG_CATEGORIES = frozenset({"necessary", "functional", "analytics", "advertising", "social"})
TRANSLATED_KEYS = ("title", "purpose", "placeholder")  # a service's words, per language
_TEXT = "tag:yaml.org,2002:str"  # (a node YAML reads as a string)


def translated(services: dict[str, Service]) -> dict[str, Service]:
    """The catalog's visitor-facing words in every language of i18n/LANG.yaml (title where
    it is not a brand, purpose, placeholder); services.yaml holds the English."""
    out = dict(services)
    for path in sorted(I18N_DIR.glob("*.yaml")):
        lang = path.stem
        for name, fields in _translations(path).items():
            if name not in out:
                continue  # a translation of a service no longer in the catalog
            svc = out[name]
            texts: dict[str, Any] = {k: {**getattr(svc, k), lang: v} for k, v in fields.items()}
            out[name] = replace(svc, **texts)
    return out


def _translations(path: Path) -> dict[str, dict[str, str]]:
    """One i18n file: each service's texts. A contributor's slip (a key misspelt, a list or
    nothing for a text) is refused with the file and line, as a config's own mistakes are."""
    text = path.read_text(encoding="utf-8")
    root = yaml_tree(text, str(path))
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(str(path), None, "must map each service's name to its texts")

    def fail(node: yaml.Node, message: str) -> ConfigError:
        return ConfigError(str(path), node.start_mark.line + 1, message)

    out: dict[str, dict[str, str]] = {}
    for name, fields in root.value:
        if not isinstance(name, yaml.ScalarNode):  # (its value is nodes, no name)
            raise fail(name, "a service's name is a list or mapping; write the name alone")
        if not isinstance(fields, yaml.MappingNode):
            raise fail(fields, f"{name.value}: give {', '.join(TRANSLATED_KEYS)} as text")
        texts: dict[str, str] = {}
        for key, words in fields.value:
            if not (isinstance(key, yaml.ScalarNode) and key.value in TRANSLATED_KEYS):
                given = (
                    repr(key.value) if isinstance(key, yaml.ScalarNode) else "(a list or mapping)"
                )
                raise fail(
                    key,
                    f"unknown key {given} in {name.value}; allowed: {', '.join(TRANSLATED_KEYS)}",
                )
            # (not ~, yes, 12: no words; nor a list tagged !!str, a list still)
            if not (
                isinstance(words, yaml.ScalarNode) and words.tag == _TEXT and words.value.strip()
            ):
                raise fail(words, f"{name.value}.{key.value} must be text")
            texts[key.value] = words.value
        out[name.value] = texts
    return out
