"""The built-in service catalog's data files (services.yaml, i18n/, the tracker knowledge base,
the Open Cookie Database). config.py reads services.yaml with the reader of a config's own
`services:` (`builtin_services`), so this package never imports the reader."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from consentproxy.settings import Service

CATALOG_FILE = Path(__file__).with_name("services.yaml")
I18N_DIR = Path(__file__).with_name("i18n")
CATALOG_CATEGORIES = frozenset({"necessary", "functional", "analytics", "advertising", "social"})


def translated(services: dict[str, Service]) -> dict[str, Service]:
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
