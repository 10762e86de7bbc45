"""A fast per-test database for the sink and import tests: the migrations
run once into a template, and each test gets CREATE DATABASE ... TEMPLATE
(a file copy) instead of a full `sql/migrate` run."""
import os
import subprocess

import pytest

from conftest import TOP

_n = 0


@pytest.fixture(scope="session")
def sink_template(pg):
    # one per importing test module (each import registers the fixture anew)
    global _n
    _n += 1
    name = f"sink_tmpl_{os.getpid()}_{_n}"
    with pg.connect(dbname="postgres") as c:
        c.execute(f'CREATE DATABASE "{name}"')
    env = {**pg.environ(), "PGDATABASE": name}
    subprocess.run([str(TOP / "sql" / "migrate")], env=env, check=True,
                   capture_output=True)
    yield name
    with pg.connect(dbname="postgres") as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sink_db(pg, sink_template):
    """A connection (autocommit) to a new migrated database; dropped after."""
    global _n
    _n += 1
    name = f"sink_{os.getpid()}_{_n}"
    with pg.connect(dbname="postgres") as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{sink_template}"')
    conn = pg.connect(dbname=name)
    try:
        yield conn
    finally:
        conn.close()
        with pg.connect(dbname="postgres") as c:
            c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
