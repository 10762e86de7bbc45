"""Probe relaying inside the running daemon (issue 6): a real ingestd with
relay.enabled, a smarthost (aiosmtpd) on 127.0.0.1, a real PostgreSQL.

Checks that a probe (the trap's own address in the subject) is delivered
and a plain message is not; that the caps hold under a flood of probes;
that a failed delivery leaves the stored message in spamlab.message; and
that every decision reaches spamlab.relay_decision through the daemon's
PostgreSQL sink, exactly once across restarts, with the optional
relay.decision_file holding the same rows.
"""
import os
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import TOP
from ingestd_helpers import wait_for
from test_relay import Sink, free_port, start_server

INGESTD = os.environ.get("SPAMLAB_INGESTD", str(TOP / "ingestd" / "ingestd"))
COLS = ("message_id, received_at, decided_at, sensor, peer_ip, rule,"
        " decision, cap, target, rcpt_to, attempts, final_code,"
        " final_reply, tls, delivered_at, status")


def wait_port(port, proc, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError("ingestd exited: " + proc.stderr.read())
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("ingestd did not listen")


def probe(subject, rcpt="box@probe.test", sender="probe@spam.test"):
    return (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n"
            f"\r\nrelay test\r\n").encode()


@pytest.fixture
def daemon(pg, tmp_path):
    sink = Sink(rcpt_replies=[])
    # reject one address for good: the failed-delivery case
    orig = sink.handle_RCPT

    async def rcpt(server, session, envelope, address, options):
        if address.startswith("reject@"):
            return "550 5.1.1 no such user"
        return await orig(server, session, envelope, address, options)

    sink.handle_RCPT = rcpt
    ctl, sport = start_server(sink)
    spool = tmp_path / "spool"
    spool.mkdir()
    decisions = tmp_path / "decisions.copy"
    with pg.connect() as c:
        c.execute("TRUNCATE spamlab.message, spamlab.relay_decision")
    procs = []

    def start():
        """Start ingestd (again, on the same spool); its SMTP port."""
        port, mport = free_port(), free_port()
        proc = subprocess.Popen([
            INGESTD, f"--listen=127.0.0.1:{port}",
            f"--metrics_listen=127.0.0.1:{mport}", f"--spool_dir={spool}",
            f"--pg_dsn={pg.dsn(user='spamlab_ingest')}", "--starttls=off",
            "--persona_delay=off", "--rdns=off",
            "--relay.enabled=on", f"--relay.smarthost=127.0.0.1:{sport}",
            "--relay.rule=self: mentions-trap max-rcpt=3",
            "--relay.trap_name=trap.example.test",
            "--relay.max_per_day=4", "--relay.max_per_peer=4",
            "--relay.max_attempts=1", f"--relay.decision_file={decisions}",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        wait_port(port, proc)
        return port

    def stop():
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    try:
        yield start, stop, sink, decisions
    finally:
        stop()
        ctl.stop()


def load_decisions(pg, path):
    """Load the optional decision file the way the sink loads its batches
    (staging + ON CONFLICT DO NOTHING): (rows in the file, rows new)."""
    out = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1",
         "-c", "CREATE TEMP TABLE st (LIKE spamlab.relay_decision)",
         "-c", f"\\copy st ({COLS}) FROM '{path}' WITH (FORMAT binary)",
         "-c", f"INSERT INTO spamlab.relay_decision ({COLS})"
               f" SELECT {COLS} FROM st ON CONFLICT DO NOTHING",
         "-c", "SELECT 'file_rows=' || count(*) FROM st"],
        env=pg.environ(), check=True, capture_output=True, text=True)
    return (int(out.stdout.split("file_rows=")[1].split()[0]),
            int(out.stdout.split("INSERT 0 ")[1].split()[0]))


def n_decisions(pg):
    with pg.connect() as c:
        return c.execute(
            "SELECT count(*) FROM spamlab.relay_decision").fetchone()[0]


def test_probes_relayed_caps_hold_copies_kept(pg, daemon):
    start, stop, sink, decisions = daemon
    with pg.connect() as c:
        t0 = c.execute("SELECT now()").fetchone()[0]
    port = start()
    with smtplib.SMTP("127.0.0.1", port) as s:
        # 1: the trap's own address (the local address) in the subject
        s.sendmail("probe@spam.test", ["box@probe.test"],
                   probe("test of 127.0.0.1"))
        # 2: not a probe
        s.sendmail("spam@spam.test", ["victim@else.test"],
                   probe("cheap pills"))
        # 3: a probe the smarthost refuses for good
        s.sendmail("probe@spam.test", ["reject@probe.test"],
                   probe("relay trap.example.test ok?"))
        # 4..13: a flood of probes; only 2 more fit today's cap of 4
        for i in range(10):
            s.sendmail("probe@spam.test", [f"box{i}@probe.test"],
                       probe(f"check {i} via trap.example.test"))
    assert wait_for(lambda: len(sink.messages) >= 3)
    time.sleep(1.0)  # let any (wrong) extra delivery show up
    assert len(sink.messages) == 3
    # a restart does not reset the day's caps (relay-caps.state)
    stop()
    port = start()
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.sendmail("probe@spam.test", ["late@probe.test"],
                   probe("after restart 127.0.0.1"))
    time.sleep(1.0)
    assert len(sink.messages) == 3
    assert sink.messages[0][1] == ["box@probe.test"]
    assert b"Subject: test of 127.0.0.1" in sink.messages[0][2]
    assert all(b"cheap pills" not in m[2] for m in sink.messages)

    # every message is stored, including the refused probe
    def stored():
        with pg.connect() as c:
            n = c.execute("SELECT count(*) FROM spamlab.message").fetchone()[0]
        return n == 14
    assert wait_for(stored, timeout=30)
    with pg.connect() as c:
        refused_copy = c.execute(
            "SELECT count(*) FROM spamlab.message"
            " WHERE rcpt_to = ARRAY['reject@probe.test']").fetchone()[0]
    assert refused_copy == 1

    # the decisions reach the table through the sink, no manual \copy
    assert wait_for(lambda: n_decisions(pg) == 13, timeout=30)
    # a restart on the same spool (replaying whatever is left in it) and
    # the optional file loaded on top add nothing: each decision once
    stop()
    start()
    time.sleep(1.5)
    assert n_decisions(pg) == 13
    assert load_decisions(pg, decisions) == (13, 0)
    with pg.connect() as c:
        assert c.execute(
            "SELECT count(DISTINCT (message_id, target))"
            " FROM spamlab.relay_decision").fetchone()[0] == 13
        rows = c.execute(
            "SELECT decision, coalesce(cap, ''), final_code,"
            " delivered_at IS NOT NULL, rcpt_to[1]"
            " FROM spamlab.relay_decision").fetchall()
        joined = c.execute(
            "SELECT count(*) FROM spamlab.relay_decision d"
            " JOIN spamlab.message m ON m.id = d.message_id"
            " AND m.received_at = d.received_at").fetchone()[0]
        daily = c.execute(
            "SELECT messages, probes, relayed, deliveries, capped"
            " FROM spamlab.relay_daily").fetchall()
    by = {}
    for r in rows:
        by.setdefault((r[0], r[1]), []).append(r)
    assert len(by[("relay", "")]) == 4
    assert sum(1 for r in by[("relay", "")] if r[3]) == 3
    assert [r[2] for r in by[("relay", "")] if not r[3]] == [550]
    assert len(by[("capped", "cap-day")]) == 9
    assert joined == 13  # each decision names a stored message
    assert daily == [(14, 13, 4, 3, 9)]

    # both mail sessions came from Python's smtplib: one dialect, from the
    # sessions the daemon itself recorded (the port probes of wait_port
    # have no commands and no dialect).  Compared without its pipe= and
    # gap= parts: on a loaded machine a loopback reply can take more than
    # the 1 ms that separates "pipelined" from not, so those depend on the
    # load, not on the client.
    def sessions():
        with pg.connect() as c:
            return c.execute(
                "SELECT count(*), count(DISTINCT split_part("
                "spamlab.dialect(id), ' | pipe=', 1)),"
                " min(spamlab.dialect(id))"
                " FROM spamlab.smtp_session WHERE started_at >= %s",
                (t0,)).fetchone()
    wait_for(lambda: sessions()[0] >= 2)
    n, hashes, dialect = sessions()
    assert n >= 2, sessions()
    assert hashes == 1
    # smtplib's lower-case verbs and its SIZE parameter (on loopback every
    # reply comes back within 1 ms, so it looks pipelined)
    assert dialect.startswith(
        "EHLO/l [ip] MAIL/l FROM:<x> size= RCPT/l TO:<x> DATA/l | end=quit")
