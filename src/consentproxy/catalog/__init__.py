"""The built-in service catalog's data files (services.yaml, i18n/, the tracker knowledge base,
the Open Cookie Database). config.py reads services.yaml with the reader of a config's own
`services:` (`builtin_services`), so this package never imports the reader."""

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
        if not isinstance(fields, yaml.MappingNode):
            raise fail(fields, f"{name.value}: give {', '.join(TRANSLATED_KEYS)} as text")
        texts: dict[str, str] = {}
        for key, words in fields.value:
            if key.value not in TRANSLATED_KEYS:
                raise fail(
                    key,
                    f"unknown key {key.value!r} in {name.value}; "
                    f"allowed: {', '.join(TRANSLATED_KEYS)}",
                )
            if not (words.tag == _TEXT and words.value.strip()):  # (not ~, yes, 12: no words)
                raise fail(words, f"{name.value}.{key.value} must be text")
            texts[key.value] = words.value
        out[name.value] = texts
    return out
