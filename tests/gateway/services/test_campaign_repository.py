"""The campaign tables have their own migrations, applied by the core store, with the very schema the core
migrations used to make: databases made before the split keep working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.core.store import MIGRATIONS, Store, StoreError
from gateway.services.campaigns import repository
from gateway.services.campaigns.repository import SCHEMA, CampaignRepository


def legacy_database(path: Path, version: int = len(MIGRATIONS)) -> None:
    """A database as opsim made it while the campaign tables were core migrations 3 and 7."""
    steps = list(MIGRATIONS)
    steps[2], steps[6] = repository.MIGRATIONS
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(steps[:version], start=1):
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.close()


def schema_of(path: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return {(r[0], r[1]) for r in conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")}
    finally:
        conn.close()


def open_with_campaigns(path: Path) -> Store:
    store = Store(path)
    CampaignRepository(store)
    store.open()
    return store


@pytest.mark.parametrize("version", [
    len(MIGRATIONS),  # every core migration applied by an older opsim
    7,  # campaign records without their id column already
    6,  # campaign tables made, records still with their id column
    2,  # made before campaigns existed
])
def test_an_older_database_gets_the_same_schema(tmp_path: Path, version: int) -> None:
    """Opened by this opsim, a database of any older version ends with the schema of a fresh one."""
    legacy_database(tmp_path / "old.db", version)
    old = open_with_campaigns(tmp_path / "old.db")
    fresh = open_with_campaigns(tmp_path / "fresh.db")
    assert old.get_meta(SCHEMA.meta_key) == fresh.get_meta(SCHEMA.meta_key) == len(repository.MIGRATIONS)
    old.close()
    fresh.close()
    legacy_database(tmp_path / "reference.db")
    assert schema_of(tmp_path / "old.db") == schema_of(tmp_path / "fresh.db") == schema_of(tmp_path / "reference.db")


def test_registered_on_an_open_store_the_tables_are_made_at_once(tmp_path: Path) -> None:
    """A repository built after the store opened (tests, tools) still finds its tables."""
    store = Store(tmp_path / "s.db")
    store.open()
    repo = CampaignRepository(store)
    assert repo.active_count(1) == 0
    CampaignRepository(store)  # registering twice is harmless
    store.close()


def test_a_campaign_schema_from_the_future_is_refused(tmp_path: Path) -> None:
    """A database whose campaign tables are newer than this opsim is refused with a message."""
    store = open_with_campaigns(tmp_path / "s.db")
    store.set_meta(SCHEMA.meta_key, len(repository.MIGRATIONS) + 1)
    store.close()
    with pytest.raises(StoreError, match="campaigns schema version"):
        open_with_campaigns(tmp_path / "s.db")
