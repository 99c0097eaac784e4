"""Shared fixtures: the example config and a compiled policy over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from consentproxy.config import Config, load_config
from consentproxy.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = ROOT / "src" / "consentproxy" / "demo" / "config.yaml"
CORPUS = Path(__file__).resolve().parent / "corpus"

# No property test is timed: an example slower than hypothesis' default 200 ms deadline on a
# loaded machine is no failure (speed is measured in bench/, not in tests).
settings.register_profile("untimed", deadline=None)
settings.load_profile("untimed")


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(DEMO_CONFIG)


@pytest.fixture(scope="session")
def policy(config: Config) -> Policy:
    return Policy(config)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A real PostgreSQL server for the whole session (started on first use)."""
    import tempfile

    from tests.pgserver import postgres_cluster

    # Not under pytest's tmp dir: the server's user must be able to reach it.
    with postgres_cluster(Path(tempfile.mkdtemp(prefix="consentproxy-pg-"))) as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", "postgres"])
def store_target(request, tmp_path) -> str:
    """A records store's target in each dialect: a SQLite file, or the session's server."""
    if request.param == "sqlite":
        return str(tmp_path / "records.sqlite3")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn
