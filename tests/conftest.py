"""Shared pytest fixtures: a throwaway PostgreSQL cluster (tests/pgtmp).

One cluster serves the whole pytest session; it has the extension installed
and the sql/ migrations applied.  Tests that need a clean slate use their own
database (the `fresh_db` fixture) or their own cluster (`PgCluster`).
"""
import atexit
import contextlib
import os
import pathlib
import subprocess

import psycopg
import pytest

TOP = pathlib.Path(__file__).resolve().parent.parent
PGTMP = TOP / "tests" / "pgtmp"
SHARED = TOP.parent / "shared"


class PgCluster:
    """A running throwaway cluster; stop() removes it (idempotent)."""

    def __init__(self, schema=True):
        args = [str(PGTMP), "start"] + (["--schema"] if schema else [])
        out = subprocess.run(args, check=True, capture_output=True, text=True)
        self.env = {}
        for line in out.stdout.splitlines():
            k, _, v = line.removeprefix("export ").partition("=")
            self.env[k] = v
        self.dir = self.env["SPAMLAB_PGTMP"]
        atexit.register(self.stop)

    @property
    def host(self):
        return self.env["PGHOST"]

    @property
    def port(self):
        return int(self.env["PGPORT"])

    def dsn(self, dbname="spamlab", user="postgres"):
        return f"host={self.host} port={self.port} dbname={dbname} user={user}"

    def connect(self, dbname="spamlab", user="postgres", **kw):
        kw.setdefault("autocommit", True)
        return psycopg.connect(self.dsn(dbname, user), **kw)

    def environ(self):
        """os.environ plus this cluster's PG* variables, for subprocesses."""
        return {**os.environ, **self.env}

    def stop(self):
        if self.dir and os.path.isdir(self.dir):
            subprocess.run([str(PGTMP), "stop", self.dir], check=False)
        self.dir = None


@pytest.fixture(scope="session")
def pg():
    cluster = PgCluster(schema=True)
    yield cluster
    cluster.stop()


@pytest.fixture
def db(pg):
    """A connection to the migrated spamlab database (autocommit)."""
    with pg.connect() as conn:
        yield conn


_fresh = 0
_templates = {}


def migrated_template(pg):
    """A database with the migrations applied, made once per cluster, that
    fresh databases are copied from (CREATE DATABASE ... TEMPLATE is a file
    copy, much faster than running every migration again)."""
    if pg.dir not in _templates:
        name = f"migrated_{os.getpid()}"
        with pg.connect(dbname="postgres") as c:
            c.execute(f'CREATE DATABASE "{name}"')
        env = {**pg.environ(), "PGDATABASE": name}
        subprocess.run([str(TOP / "sql" / "migrate")], env=env, check=True,
                       capture_output=True)
        _templates[pg.dir] = name
    return _templates[pg.dir]


@contextlib.contextmanager
def fresh_database(pg):
    """A new database with the migrations applied; dropped afterwards."""
    global _fresh
    _fresh += 1
    name = f"fresh_{os.getpid()}_{_fresh}"
    template = migrated_template(pg)
    with pg.connect(dbname="postgres") as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    conn = pg.connect(dbname=name)
    try:
        yield conn
    finally:
        conn.close()
        with pg.connect(dbname="postgres") as c:
            c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_db(pg):
    """A new, empty database with the migrations applied; dropped afterwards."""
    with fresh_database(pg) as conn:
        yield conn


def shared_path(*parts):
    """A path in ../shared/testdata, or skip the test when it is absent."""
    p = SHARED.joinpath("testdata", *parts)
    if not p.exists():
        pytest.skip(f"{p} is absent (../shared/testdata not beside the checkout)")
    return p


def assert_linear(measure_small, measure_large, limit=30, floor=0.002,
                  tries=3, what=""):
    """Assert that the large input (10x the small one) costs less than
    `limit` times the small one.  Timing is noisy on a shared machine, so a
    ratio over the limit is measured again (up to `tries` times): load
    spikes pass, a quadratic algorithm fails every time."""
    seen = []
    for _ in range(tries):
        small = max(measure_small(), floor)
        large = measure_large()
        seen.append((round(small, 4), round(large, 4)))
        if large < limit * small:
            return
    raise AssertionError(f"{what}: time grew more than {limit}x for 10x the"
                         f" input in every try (small, large): {seen}")
