"""The per-test database of the sink and import tests: a copy of the
migrated template (conftest.fresh_database)."""
import pytest

from conftest import fresh_database


@pytest.fixture
def sink_db(pg):
    """A connection (autocommit) to a new migrated database; dropped after."""
    with fresh_database(pg) as conn:
        yield conn
