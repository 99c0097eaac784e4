"""The built-in service catalog: data files, validated by the same reader as a config."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consentproxy.config import Config, Service

CATALOG_FILE = Path(__file__).with_name("services.yaml")
CATALOG_CATEGORIES = frozenset({"necessary", "functional", "analytics", "advertising", "social"})


@cache
def builtin_services() -> dict[str, Service]:
    """Built-in services by name (read once: the file ships with the package)."""
    from consentproxy.config import read_services

    services = read_services(CATALOG_FILE.read_text(encoding="utf-8"), str(CATALOG_FILE),
                             CATALOG_CATEGORIES)
    return {s.name: s for s in services}


def catalog_config() -> Config:
    """A config using every built-in service in its default category (for `catalog` CLI
    commands and tests)."""
    from consentproxy.config import Category, Config

    return Config(
        source=str(CATALOG_FILE), upstream="http://catalog.invalid",
        categories=tuple(Category(c, required=c == "necessary")
                         for c in sorted(CATALOG_CATEGORIES)),
        services=tuple(builtin_services().values()))
