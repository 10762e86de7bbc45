"""The message store: migrations, partitions, idempotent loads, roles."""
import datetime as dt
import subprocess
import uuid

import psycopg
import pytest

from conftest import TOP

UTC = dt.timezone.utc


def insert(conn, received_at, mid=None, raw=b"Subject: hi\r\n\r\nbody\r\n",
           on_conflict=True):
    mid = mid or uuid.uuid4()
    sql = ("INSERT INTO spamlab.message (id, received_at, source, raw, size)"
           " VALUES (%s, %s, 'smtp', %s, %s)")
    if on_conflict:
        sql += " ON CONFLICT DO NOTHING"
    return conn.execute(sql, (mid, received_at, raw, len(raw))).rowcount, mid


def partition_of(conn, received_at, mid):
    return conn.execute(
        "SELECT tableoid::regclass::text FROM spamlab.message"
        " WHERE received_at = %s AND id = %s", (received_at, mid)).fetchone()[0]


def test_migrations_are_recorded_and_rerun_is_a_no_op(fresh_db, pg):
    rows = fresh_db.execute(
        "SELECT version, name FROM spamlab.schema_migration ORDER BY 1").fetchall()
    files = sorted(p.name for p in (TOP / "sql").glob("[0-9][0-9][0-9]_*.sql"))
    assert [f"{v:03d}_{n}.sql" for v, n in rows] == files
    env = {**pg.environ(), "PGDATABASE": fresh_db.info.dbname}
    out = subprocess.run([str(TOP / "sql" / "migrate")], env=env,
                         capture_output=True, text=True, check=True)
    assert "0 applied" in out.stderr


def test_edited_migration_is_refused(fresh_db, pg):
    fresh_db.execute("UPDATE spamlab.schema_migration SET sha256 = 'x'"
                     " WHERE version = 2")
    env = {**pg.environ(), "PGDATABASE": fresh_db.info.dbname}
    out = subprocess.run([str(TOP / "sql" / "migrate")], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "changed after it was applied" in out.stderr


def test_insert_without_partition_lands_in_default(fresh_db):
    t = dt.datetime(1999, 12, 31, 23, 59, tzinfo=UTC)
    n, mid = insert(fresh_db, t)
    assert n == 1
    assert partition_of(fresh_db, t, mid) == "spamlab.message_default"


def test_partitions_on_demand_move_rows_out_of_default(fresh_db):
    t = dt.datetime(2031, 5, 17, 12, tzinfo=UTC)
    _, mid = insert(fresh_db, t)
    assert partition_of(fresh_db, t, mid) == "spamlab.message_default"
    n = fresh_db.execute("SELECT spamlab.ensure_message_partitions(%s, %s)",
                         (t, t + dt.timedelta(days=40))).fetchone()[0]
    assert n == 2
    assert partition_of(fresh_db, t, mid) == "spamlab.message_2031_05"
    # month boundaries are UTC; the next month exists too, and is used
    t2 = dt.datetime(2031, 6, 1, 0, 0, tzinfo=UTC)
    _, mid2 = insert(fresh_db, t2)
    assert partition_of(fresh_db, t2, mid2) == "spamlab.message_2031_06"
    # asking again changes nothing
    fresh_db.execute("SELECT spamlab.ensure_message_partitions(%s, %s)", (t, t))
    assert fresh_db.execute(
        "SELECT count(*) FROM spamlab.message").fetchone()[0] == 2


def test_maintenance_splits_everything_in_default(fresh_db):
    for month in (1, 3):
        insert(fresh_db, dt.datetime(2030, month, 2, tzinfo=UTC))
    fresh_db.execute("SELECT spamlab.ensure_message_partitions()")
    assert fresh_db.execute(
        "SELECT count(*) FROM spamlab.message_default").fetchone()[0] == 0
    parts = {r[0] for r in fresh_db.execute(
        "SELECT inhrelid::regclass::text FROM pg_inherits"
        " WHERE inhparent = 'spamlab.message'::regclass")}
    assert {"spamlab.message_2030_01", "spamlab.message_2030_03"} <= parts
    now = dt.datetime.now(UTC)
    assert f"spamlab.message_{now:%Y_%m}" in parts


def test_replay_is_idempotent(fresh_db):
    t = dt.datetime(2030, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    n1, mid = insert(fresh_db, t)
    n2, _ = insert(fresh_db, t, mid)
    assert (n1, n2) == (1, 0)
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert(fresh_db, t, mid, on_conflict=False)
    fresh_db.execute("SELECT spamlab.ensure_message_partitions(%s, %s)", (t, t))
    n3, _ = insert(fresh_db, t, mid)
    assert n3 == 0


def test_raw_is_lz4_compressed_and_byte_exact(fresh_db):
    raw = b"Subject: big\r\n\r\n" + bytes(range(256)) * 40 + b"\x00\xff" * 5000
    t = dt.datetime(2030, 7, 1, tzinfo=UTC)
    _, mid = insert(fresh_db, t, raw=raw)
    got, method = fresh_db.execute(
        "SELECT raw, pg_column_compression(raw) FROM spamlab.message"
        " WHERE id = %s", (mid,)).fetchone()
    assert bytes(got) == raw
    assert method == "lz4"


def test_constraints_reject_bad_rows(fresh_db):
    t = dt.datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(psycopg.errors.CheckViolation):
        fresh_db.execute("INSERT INTO spamlab.message (id, received_at, source,"
                         " raw) VALUES (gen_random_uuid(), %s, 'fax', '')", (t,))
    with pytest.raises(psycopg.errors.CheckViolation):
        fresh_db.execute("INSERT INTO spamlab.message (id, received_at, source,"
                         " label, raw) VALUES (gen_random_uuid(), %s, 'eml',"
                         " 'maybe', '')", (t,))


def test_brin_index_on_received_at(fresh_db):
    am = fresh_db.execute(
        "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_am am ON am.oid = c.relam"
        " WHERE i.indrelid = 'spamlab.message'::regclass"
        "   AND c.relname = 'message_received_at_brin'").fetchone()
    assert am == ("brin",)


def test_ingest_role_may_only_insert(pg, fresh_db):
    name = fresh_db.info.dbname
    t = dt.datetime(2030, 8, 9, tzinfo=UTC)
    with pg.connect(dbname=name, user="spamlab_ingest") as c:
        n, mid = insert(c, t)
        assert n == 1
        assert insert(c, t, mid)[0] == 0  # replays work without SELECT
        c.execute("SELECT spamlab.ensure_message_partitions(%s, %s)", (t, t))
        for sql in ("SELECT count(*) FROM spamlab.message",
                    "UPDATE spamlab.message SET label = 'ham'",
                    "DELETE FROM spamlab.message",
                    "TRUNCATE spamlab.message",
                    "SELECT spamlab.create_message_partition(now())"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(sql)


def test_reader_role_may_read(pg, fresh_db):
    fresh_db.execute("SET ROLE spamlab_reader")
    assert fresh_db.execute(
        "SELECT count(*) FROM spamlab.message").fetchone()[0] == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        insert(fresh_db, dt.datetime(2030, 1, 1, tzinfo=UTC))
