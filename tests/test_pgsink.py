"""The PostgreSQL sink (ingestd/src/pgsink.c) through pgsink_drive: batch
boundaries, idempotent replays, session rows, poisoned records isolated,
the INSERT-only role, an unreachable server."""
import os
import re
import subprocess
import time

import pytest

from conftest import TOP
from sinkdb import sink_db  # noqa: F401 (fixture)

DRIVE = TOP / "ingestd" / "test" / "pgsink_drive"


@pytest.fixture(scope="module", autouse=True)
def built():
    subprocess.run(["make", "-s", "-C", str(TOP / "ingestd")], check=True,
                   capture_output=True)


def drive(dsn, *args, check=True):
    out = subprocess.run([str(DRIVE), "--db", dsn, *map(str, args)],
                         capture_output=True, text=True, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"pgsink_drive failed:\n{out.stdout}{out.stderr}")
    stats = dict(re.findall(r"(\w+)=(\S+)", out.stdout))
    return {k: float(v) if "." in v else int(v) for k, v in stats.items()}, out


def count(conn, table, where="true"):
    return conn.execute(f"SELECT count(*) FROM spamlab.{table} WHERE {where}"
                        ).fetchone()[0]


def test_batches_bounded_by_rows_and_bytes(pg, sink_db):
    dsn = pg.dsn(sink_db.info.dbname)
    st, _ = drive(dsn, "--messages", 2500, "--batch-rows", 1000)
    assert st["batches"] == 3 and st["committed"] == 2500
    assert st["messages_inserted"] == 2500
    # 1 KB messages, 10 KB batches: about 10 rows each
    st, _ = drive(dsn, "--messages", 100, "--size", 1024, "--seed", 2,
                  "--batch-bytes", 10240)
    assert st["committed"] == 100
    assert 10 <= st["batches"] <= 20
    assert count(sink_db, "message") == 2600


def test_message_columns(pg, sink_db):
    dsn = pg.dsn(sink_db.info.dbname)
    drive(dsn, "--messages", 3, "--seed", 7)
    r = sink_db.execute(
        "SELECT sensor, source, label, peer_ip::text, peer_port, helo,"
        " mail_from, rcpt_to, size, length(raw), tableoid::regclass::text"
        " FROM spamlab.message ORDER BY received_at LIMIT 2").fetchall()
    assert r[0] == ("drive", "smtp", None, "192.0.2.7/32", 40000,
                    "drive.example", "", ["a@example.org", "b@example.net"],
                    200, 200, "spamlab.message_2024_05")
    assert r[1][3] == "2001:db8::1/128"
    # the password goes to message_auth, never to message
    a = sink_db.execute("SELECT username, password FROM spamlab.message_auth"
                         ).fetchall()
    assert a == [("user", "secret")]


def test_replay_is_a_no_op(pg, sink_db):
    dsn = pg.dsn(sink_db.info.dbname)
    st, _ = drive(dsn, "--messages", 300, "--sessions", 20, "--seed", 3)
    assert st["messages_inserted"] == 300
    # the same records again, twice in one run (replay within and across)
    st, _ = drive(dsn, "--messages", 300, "--sessions", 20, "--seed", 3,
                  "--repeat", 2)
    assert st["committed"] == 640
    assert st["rows_inserted"] == 0 and st["messages_inserted"] == 0
    assert count(sink_db, "message") == 300
    assert count(sink_db, "smtp_session") == 20
    assert count(sink_db, "smtp_command") == 60
    assert count(sink_db, "smtp_auth") == 20


def test_direct_copy_falls_back_on_replay(pg, sink_db):
    """Without passwords a batch is COPYed straight into spamlab.message; a
    replayed key makes that COPY fail whole, and the batch (new and old
    keys mixed) goes through staging: one row per key, nothing lost."""
    dsn = pg.dsn(sink_db.info.dbname)
    st, out = drive(dsn, "--messages", 1500, "--seed", 11, "--no-auth")
    assert st["messages_inserted"] == 1500 and "event=replay" not in out.stderr
    st, out = drive(dsn, "--messages", 2000, "--seed", 11, "--no-auth")
    assert "event=replay" in out.stderr
    assert st["committed"] == 2000 and st["messages_inserted"] == 500
    assert st["batch_errors"] == 0
    total, distinct = sink_db.execute(
        "SELECT count(*), count(DISTINCT id) FROM spamlab.message").fetchone()
    assert total == distinct == 2000
    # staging forced: same result, no fallback needed
    st, out = drive(dsn, "--messages", 2000, "--seed", 11, "--no-auth",
                    "--staged")
    assert st["messages_inserted"] == 0 and "event=replay" not in out.stderr


def test_session_rows(pg, sink_db):
    dsn = pg.dsn(sink_db.info.dbname)
    drive(dsn, "--messages", 0, "--sessions", 1, "--seed", 4)
    s = sink_db.execute(
        "SELECT peer_ip::text, peer_port, helo, disconnect_reason, n_commands,"
        " n_auth, ended_at - started_at FROM spamlab.smtp_session").fetchone()
    assert s[:6] == ("192.0.2.9/32", 2525, "drive.example", "quit", 3, 1)
    assert s[6].total_seconds() == pytest.approx(0.005)
    cmds = sink_db.execute(
        "SELECT c.n, c.command, c.reply_code, c.at - s.started_at"
        " FROM spamlab.smtp_command c JOIN spamlab.smtp_session s"
        " ON s.id = c.session_id ORDER BY n").fetchall()
    assert [(n, cmd, code) for n, cmd, code, _ in cmds] == [
        (1, "EHLO drive.example", 250),
        (2, "AUTH PLAIN AHVzZXIAc2VjcmV0", 235), (3, "QUIT", 221)]
    assert cmds[2][3].total_seconds() == pytest.approx(0.003)
    a = sink_db.execute("SELECT n, mechanism, username, password, reply_code"
                         " FROM spamlab.smtp_auth").fetchall()
    assert a == [(1, "PLAIN", "user", "secret", 235)]


@pytest.mark.parametrize("path", ["staged", "direct"])
def test_poisoned_records_are_isolated(pg, sink_db, path):
    """Batches with AUTH passwords go through staging, others are COPYed
    straight in: a bad record is isolated on both paths."""
    dsn = pg.dsn(sink_db.info.dbname)
    extra = ["--no-auth"] if path == "direct" else []
    st, out = drive(dsn, "--messages", 300, "--seed", 5, "--poison", "5,250",
                    "--batch-rows", 100, *extra)
    assert st["ok"] == 1
    assert st["rejected"] == 2 and st["committed"] == 298
    assert count(sink_db, "message") == 298
    rejected = re.findall(r"event=record_rejected msg=\"kind=message id=(\S+)",
                          out.stderr)
    assert len(rejected) == 2
    assert "message_label_check" in out.stderr
    for rid in rejected:
        assert count(sink_db, "message", f"id = '{rid}'") == 0
    # the sink went on with later batches at full size
    st, _ = drive(dsn, "--messages", 300, "--seed", 6, "--batch-rows", 100,
                  *extra)
    assert st["batches"] == 3


def test_ingest_role_can_load(pg, sink_db):
    """spamlab_ingest has INSERT only (+ TEMP, ensure_message_partitions)."""
    dsn = pg.dsn(sink_db.info.dbname, user="spamlab_ingest")
    st, _ = drive(dsn, "--messages", 50, "--sessions", 5, "--seed", 8)
    assert st["messages_inserted"] == 50
    st, _ = drive(dsn, "--messages", 50, "--sessions", 5, "--seed", 8)
    assert st["rows_inserted"] == 0
    assert count(sink_db, "message") == 50
    assert count(sink_db, "smtp_session") == 5


def test_unreachable_server_fails_after_max_attempts():
    st, out = drive("host=127.0.0.1 port=1 dbname=x", "--messages", 3,
                    "--max-attempts", 3, check=False)
    assert out.returncode == 1
    assert st["ok"] == 0 and st["connect_errors"] == 3
    assert st["committed"] == 0 and st["cancelled"] == 0
    assert out.stderr.count("event=disconnected") == 2
    assert "event=give_up" in out.stderr


def test_flush_timer_cuts_batches(pg, sink_db):
    """A trickle (one record per 20 ms) goes out every flush_ms, not per
    record and not only at the end."""
    dsn = pg.dsn(sink_db.info.dbname)
    st, _ = drive(dsn, "--messages", 50, "--seed", 9, "--trickle-ms", 20,
                  "--flush-ms", 200)
    assert st["committed"] == 50
    assert 3 <= st["batches"] <= 15


def test_server_restart_loses_nothing(pg, sink_db):
    """A daemon-like sink (retries for ever) across a PostgreSQL restart:
    in-flight batches are requeued, every record commits exactly once."""
    from test_import import pg_ctl
    dbname = sink_db.info.dbname
    n = 400
    proc = subprocess.Popen(
        [str(DRIVE), "--db", pg.dsn(dbname), "--messages", str(n), "--seed",
         "10", "--trickle-ms", "10", "--flush-ms", "50", "--batch-rows", "20",
         "--max-attempts", "0"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        with pg.connect(dbname=dbname) as c:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and count(c, "message") == 0:
                time.sleep(0.02)
        pg_ctl(pg, "stop")
        time.sleep(1.5)
    finally:
        if not os.path.exists(f"{pg.dir}/data/postmaster.pid"):
            pg_ctl(pg, "start")
    out, err = proc.communicate(timeout=120)
    st = dict(re.findall(r"(\w+)=(\S+)", out))
    assert proc.returncode == 0, err
    assert st["committed"] == str(n) and st["rejected"] == "0"
    assert "event=disconnected" in err and "event=connected" in err
    with pg.connect(dbname=dbname) as c:
        total, distinct = c.execute(
            "SELECT count(*), count(DISTINCT id) FROM spamlab.message"
        ).fetchone()
    assert total == distinct == n


def test_relay_decisions(pg, sink_db):
    """Relay decisions ride the same batches as messages (staging + ON
    CONFLICT DO NOTHING): every column lands, a replay stores nothing new,
    a bad decision is isolated, and the INSERT-only role can load them."""
    dsn = pg.dsn(sink_db.info.dbname, user="spamlab_ingest")
    st, _ = drive(dsn, "--messages", 30, "--relays", 30, "--seed", 21,
                  "--batch-rows", 16)
    assert st["ok"] == 1 and st["committed"] == 60
    assert st["messages_inserted"] == 30 and st["rows_inserted"] >= 60
    assert count(sink_db, "relay_decision") == 30
    rows = sink_db.execute(
        "SELECT decision, count(*), count(cap), count(target),"
        " count(delivered_at), min(final_code), min(tls),"
        " min(array_to_string(rcpt_to, ','))"
        " FROM spamlab.relay_decision GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [
        ("capped", 10, 10, 0, 0, None, None, "a@example.org,b@example.net"),
        ("disabled", 10, 0, 0, 0, None, None, "a@example.org,b@example.net"),
        ("relay", 10, 0, 10, 10, 250, "TLSv1.3",
         "a@example.org,b@example.net")]
    # each decision names its message
    assert sink_db.execute(
        "SELECT count(*) FROM spamlab.relay_decision d JOIN spamlab.message m"
        " ON m.id = d.message_id AND m.received_at = d.received_at"
        ).fetchone()[0] == 30
    # a replay (twice over) stores nothing new
    st, _ = drive(dsn, "--messages", 30, "--relays", 30, "--seed", 21,
                  "--repeat", 2)
    assert st["committed"] == 120 and st["rows_inserted"] == 0
    assert count(sink_db, "relay_decision") == 30
    # a decision the table refuses is rejected alone
    st, out = drive(dsn, "--messages", 30, "--relays", 30, "--seed", 22,
                    "--poison-relay", 4, "--batch-rows", 16)
    assert st["ok"] == 1 and st["rejected"] == 1 and st["committed"] == 59
    assert "kind=relay" in out.stderr
    assert count(sink_db, "relay_decision") == 59
    assert count(sink_db, "message") == 60


SESSION_TABLES = {
    "smtp_session": "id",
    "smtp_command": "session_id, n",
    "smtp_auth": "session_id, n",
}


def session_rows(conn):
    return {t: conn.execute(f"SELECT * FROM spamlab.{t} ORDER BY {key}"
                            ).fetchall()
            for t, key in SESSION_TABLES.items()}


def test_direct_session_rows_match_staged(pg, sink_db):
    """Sessions COPYed straight into smtp_session, smtp_command and
    smtp_auth give exactly the rows staging + INSERT ... SELECT gives, for
    every shape of session (no commands, NULL replies and ports, bad UTF-8,
    a command cut at 512 bytes, NULL credentials), alone and mixed with
    messages in one batch."""
    dsn = pg.dsn(sink_db.info.dbname)
    for extra in (["--messages", 0], ["--messages", 20, "--no-auth"]):
        st, out = drive(dsn, "--sessions", 60, "--varied-sessions",
                        "--seed", 13, *extra)
        assert st["batches"] == st["batches_direct"] == 1
        direct = session_rows(sink_db)
        assert len(direct["smtp_session"]) == 60
        assert len(direct["smtp_command"]) > 60
        assert len(direct["smtp_auth"]) > 40
        assert st["rows_inserted"] == sum(map(len, direct.values())) + (
            20 if "--no-auth" in extra else 0)
        sink_db.execute("TRUNCATE spamlab.smtp_session,"
                        " spamlab.smtp_command, spamlab.smtp_auth")
        st, _ = drive(dsn, "--sessions", 60, "--varied-sessions", "--seed",
                      13, "--staged", *extra)
        assert st["batches"] == 1 and st["batches_direct"] == 0
        assert session_rows(sink_db) == direct
        # the shapes are there (NULL reply, cut command, NULL credentials)
        assert sink_db.execute(
            "SELECT count(*) FILTER (WHERE reply_code IS NULL) > 0,"
            " max(octet_length(command)) BETWEEN 510 AND 520"
            " FROM spamlab.smtp_command").fetchone() == (True, True)
        assert sink_db.execute(
            "SELECT count(*) FROM spamlab.smtp_auth WHERE username IS NULL"
        ).fetchone()[0] > 0
        # the NTLM workstation (sql/024) too, UTF-8 intact, NULL elsewhere
        assert sink_db.execute(
            "SELECT count(*) FILTER (WHERE workstation = 'K\u00e4LI'),"
            " count(*) FILTER (WHERE workstation IS NULL)"
            " FROM spamlab.smtp_auth").fetchone() > (0, 0)
        # the reverse DNS columns (sql/025) are carried by both paths
        assert sink_db.execute(
            "SELECT count(*) FILTER (WHERE rdns = 'dsl-1.pool.example'"
            " AND rdns_status IS NOT NULL) > 0,"
            " count(*) FILTER (WHERE rdns = 'h\ufffd') > 0,"
            " count(*) FILTER (WHERE rdns_status = 'confirmed') > 0,"
            " count(*) FILTER (WHERE rdns IS NULL AND rdns_status IS NULL) > 0"
            " FROM spamlab.smtp_session").fetchone() == (True,) * 4
        sink_db.execute("TRUNCATE spamlab.smtp_session,"
                        " spamlab.smtp_command, spamlab.smtp_auth")


def test_direct_session_replay_falls_back(pg, sink_db):
    """A session already stored makes the direct COPY fail whole (unique
    violation); the batch, old and new sessions mixed, goes through staging
    + ON CONFLICT: every session, command and AUTH row once, none lost."""
    dsn = pg.dsn(sink_db.info.dbname)
    st, out = drive(dsn, "--messages", 0, "--sessions", 20, "--seed", 12,
                    "--varied-sessions")
    assert st["batches_direct"] == 1 and "event=replay" not in out.stderr
    want = session_rows(sink_db)
    # 30 sessions, the first 20 stored already, with messages in the batch
    st, out = drive(dsn, "--messages", 10, "--no-auth", "--sessions", 30,
                    "--seed", 12, "--varied-sessions")
    assert "event=replay" in out.stderr
    assert st["committed"] == 40 and st["batch_errors"] == 0
    assert st["batches_direct"] == 0 and st["messages_inserted"] == 10
    got = session_rows(sink_db)
    assert len(got["smtp_session"]) == 30
    for t, key in SESSION_TABLES.items():
        n = len(key.split(","))
        keys = [r[:n] for r in got[t]]
        assert len(keys) == len(set(keys)), t
        # the rows stored before are unchanged
        assert set(want[t]) <= set(got[t]), t
    # the same 30 sessions loaded into an empty database: the same rows
    sink_db.execute("TRUNCATE spamlab.smtp_session, spamlab.smtp_command,"
                    " spamlab.smtp_auth")
    st, _ = drive(dsn, "--messages", 0, "--sessions", 30, "--seed", 12,
                  "--varied-sessions")
    assert st["batches_direct"] == 1
    assert session_rows(sink_db) == got
    # a replay of a stored session alone: fallback, nothing new
    st, out = drive(dsn, "--messages", 0, "--sessions", 30, "--seed", 12,
                    "--varied-sessions")
    assert "event=replay" in out.stderr
    assert st["committed"] == 30 and st["rows_inserted"] == 0
    assert session_rows(sink_db) == got


def test_session_bytes_count_both_encodings(pg, sink_db):
    """A session is held as a staging tuple and as table rows for the
    direct COPY; batch_bytes (like the backpressure bound) counts both, so
    fewer sessions fit a batch than with staging alone."""
    dsn = pg.dsn(sink_db.info.dbname)
    args = ["--messages", 0, "--sessions", 60, "--session-commands", 300,
            "--batch-bytes", 100000, "--seed", 14]
    staged, _ = drive(dsn, *args, "--staged")
    sink_db.execute("TRUNCATE spamlab.smtp_session, spamlab.smtp_command,"
                    " spamlab.smtp_auth")
    direct, _ = drive(dsn, *args)
    assert staged["committed"] == direct["committed"] == 60
    assert direct["batches_direct"] == direct["batches"]
    # 300 commands: about 15 KB staged, 24 KB more as rows
    assert 6 <= staged["batches"] <= 10
    assert direct["batches"] >= 2 * staged["batches"]
