"""The built-in service catalog: data files, validated by the same reader as a config."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from consentproxy.settings import Category, Config, Service

CATALOG_FILE = Path(__file__).with_name("services.yaml")
I18N_DIR = Path(__file__).with_name("i18n")
CATALOG_CATEGORIES = frozenset({"necessary", "functional", "analytics", "advertising", "social"})


@cache
def builtin_services() -> dict[str, Service]:
    """Built-in services by name (read once: the file ships with the package)."""
    from consentproxy.config import read_services

    services = read_services(
        CATALOG_FILE.read_text(encoding="utf-8"), str(CATALOG_FILE), CATALOG_CATEGORIES
    )
    return _translated({s.name: s for s in services})


def _translated(services: dict[str, Service]) -> dict[str, Service]:
    """The catalog's visitor-facing words in every language of i18n/LANG.yaml (title where
    it is not a brand, purpose, placeholder); services.yaml holds the English."""
    out = dict(services)
    for path in sorted(I18N_DIR.glob("*.yaml")):
        lang = path.stem
        for name, fields in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            if name not in out:
                continue  # a translation of a service no longer in the catalog
            svc = out[name]
            texts: dict[str, Any] = {k: {**getattr(svc, k), lang: v} for k, v in fields.items()}
            out[name] = replace(svc, **texts)
    return out


def catalog_config() -> Config:
    """A config using every built-in service in its default category (for `catalog` CLI
    commands and tests)."""
    return Config(
        source=str(CATALOG_FILE),
        upstream="http://catalog.invalid",
        categories=tuple(
            Category(c, required=c == "necessary") for c in sorted(CATALOG_CATEGORIES)
        ),
        services=tuple(builtin_services().values()),
    )
