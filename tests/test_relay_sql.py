"""sql/020_relay.sql and sql/021_dialect.sql: the relay decision table and
its daily view, and bot fingerprints (dialect_hash) over hand-made SMTP
sessions: two runs of the same bot software hash equal, other software
hashes differently."""
import datetime as dt
import uuid

import psycopg
import pytest

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def add_session(db, peer, commands, tls=None, start=T0):
    """commands: [(ms after start, line)], reply 250 each."""
    sid = uuid.uuid4()
    db.execute(
        "INSERT INTO spamlab.smtp_session (id, started_at, peer_ip, tls,"
        " n_commands) VALUES (%s, %s, %s, %s, %s)",
        (sid, start, peer, tls, len(commands)))
    for n, (ms, line) in enumerate(commands, 1):
        db.execute(
            "INSERT INTO spamlab.smtp_command VALUES (%s, %s, %s, %s, 250)",
            (sid, n, start + dt.timedelta(milliseconds=ms), line))
    return sid


def dialect_hash(db, sid):
    return db.execute("SELECT spamlab.dialect_hash(%s)", (sid,)).fetchone()[0]


# bot A: EHLO with an IP literal, no space after the colon, SIZE param,
# pipelined MAIL/RCPT/DATA, QUIT at the end
def bot_a(helo, frm, rcpts, base_gap=50, quit=True):
    t = 0
    cmds = [(t, f"EHLO [{helo}]")]
    t += base_gap
    cmds.append((t, f"MAIL FROM:<{frm}> SIZE={1000 + len(rcpts)}"))
    for r in rcpts:
        cmds.append((t + 0.2, f"RCPT TO:<{r}>"))
        t += 0.2
    cmds.append((t + 0.2, "DATA"))
    t += base_gap
    if quit:
        cmds.append((t, "QUIT"))
    return cmds


# bot B: HELO with a host name, a space after the colon, no pipelining
def bot_b(helo, frm, rcpts, gap=120):
    t, cmds = 0, [(0, f"HELO {helo}")]
    for line in ([f"MAIL FROM: <{frm}>"] + [f"RCPT TO: <{r}>" for r in rcpts]
                 + ["DATA", "QUIT"]):
        t += gap
        cmds.append((t, line))
    return cmds


SHAPES = [
    ("EHLO [192.0.2.1]", "EHLO [ip]"),
    ("ehlo mail.example.org", "EHLO/l fqdn"),
    ("Helo bob", "HELO/m word"),
    ("EHLO 192.0.2.1", "EHLO ip"),
    ("EHLO", "EHLO"),
    ("MAIL FROM:<a@b.c> SIZE=123 BODY=8BITMIME", "MAIL FROM:<x> SIZE= BODY="),
    ("MAIL FROM: <a@b.c>", "MAIL FROM: <x>"),
    ("mail from:<>", "MAIL/l from:<>"),
    ("MAIL FROM:a@b.c", "MAIL FROM:x"),
    ("RCPT TO:<x@y.z>", "RCPT TO:<x>"),
    ("AUTH LOGIN", "AUTH LOGIN"),
    ("AUTH PLAIN AGFkbWluAHB3", "AUTH PLAIN +ir"),
    ("DATA", "DATA"),
    ("QUIT now", "QUIT arg"),
    (" NOOP", "_NOOP"),
    ("\x16\x03\x01garbage", "?"),
    ("XYZZYPLUGHFOOBAR x", "XYZZYPLUGHFO arg"),
]


@pytest.mark.parametrize("line,shape", SHAPES)
def test_command_shape(db, line, shape):
    assert db.execute("SELECT spamlab.command_shape(%s)",
                      (line,)).fetchone()[0] == shape


def test_same_bot_same_hash_other_bot_differs(fresh_db):
    # a database of its own: top_dialects() ranks every session in it, and
    # the daemon tests leave theirs in the shared one
    db = fresh_db
    a1 = add_session(db, "203.0.113.5",
                     bot_a("203.0.113.5", "x1@spam.test", ["a@b.test"]))
    # another run of bot A: other peer, addresses, 3 recipients, slower
    # network (still the same timing bucket), TLS the same (none)
    a2 = add_session(db, "198.51.100.77",
                     bot_a("198.51.100.77", "other@else.test",
                           ["p@q.test", "r@s.test", "t@u.test"], base_gap=200))
    b1 = add_session(db, "203.0.113.6",
                     bot_b("mail.spam.test", "x@spam.test", ["a@b.test"]))
    b2 = add_session(db, "203.0.113.7",
                     bot_b("relay.other.test", "y@spam2.test",
                           ["a@b.test", "c@d.test"], gap=250))
    # bot A's sibling that drops the connection instead of QUIT
    a3 = add_session(db, "203.0.113.8",
                     bot_a("203.0.113.8", "z@spam.test", ["a@b.test"],
                           quit=False))
    # the same commands as A over TLS
    a4 = add_session(db, "203.0.113.9",
                     bot_a("203.0.113.9", "z@spam.test", ["a@b.test"]),
                     tls="TLSv1.3 TLS_AES_256_GCM_SHA384")
    ha1, ha2, hb1, hb2, ha3, ha4 = (dialect_hash(db, s)
                                    for s in (a1, a2, b1, b2, a3, a4))
    assert ha1 == ha2
    assert hb1 == hb2
    assert len({ha1, hb1, ha3, ha4}) == 4
    assert len(ha1) == 16
    d = db.execute("SELECT spamlab.dialect(%s)", (a1,)).fetchone()[0]
    assert d == ("EHLO [ip] MAIL FROM:<x> SIZE= RCPT TO:<x> DATA"
                 " | end=quit | tls=none | pipe=yes | gap=<300ms")
    d = db.execute("SELECT spamlab.dialect(%s)", (b1,)).fetchone()[0]
    assert d == ("HELO fqdn MAIL FROM: <x> RCPT TO: <x> DATA"
                 " | end=quit | tls=none | pipe=no | gap=<300ms")
    # unknown or empty sessions: NULL, no error
    assert dialect_hash(db, uuid.uuid4()) is None
    empty = add_session(db, "192.0.2.1", [])
    assert dialect_hash(db, empty) is None

    top = db.execute(
        "SELECT dialect_hash, sessions, peers, top_peers::text[], countries"
        " FROM spamlab.top_dialects(10)"
        " WHERE dialect_hash IN (%s, %s)", (ha1, hb1)).fetchall()
    got = {r[0]: r[1:] for r in top}
    assert got[ha1][0] == 2 and got[ha1][1] == 2
    assert set(got[ha1][2]) == {"198.51.100.77/32", "203.0.113.5/32"} or \
        set(got[ha1][2]) == {"198.51.100.77", "203.0.113.5"}
    assert got[hb1][0] == 2
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute("SELECT * FROM spamlab.top_dialects(0)")


def add_message(db, received_at, sid=None):
    mid = uuid.uuid4()
    db.execute(
        "INSERT INTO spamlab.message (id, received_at, source, raw)"
        " VALUES (%s, %s, 'smtp', 'x')", (mid, received_at))
    return mid


def test_relay_decision_and_daily_view(fresh_db):
    db = fresh_db
    day = [T0 + dt.timedelta(days=i) for i in range(3)]
    # day 0: 2 messages, 1 probe relayed and delivered
    m = add_message(db, day[0])
    add_message(db, day[0])
    db.execute(
        "INSERT INTO spamlab.relay_decision (message_id, received_at, rule,"
        " decision, target, attempts, final_code, final_reply, delivered_at)"
        " VALUES (%s, %s, 'self-mention', 'relay', 'probe.test', 1, 250,"
        " '250 2.0.0 Ok', %s)", (m, day[0], day[0]))
    # day 1: 3 messages, one capped probe
    for _ in range(3):
        m = add_message(db, day[1])
    db.execute(
        "INSERT INTO spamlab.relay_decision (message_id, received_at, rule,"
        " decision, cap) VALUES (%s, %s, 'first-peer', 'capped', 'cap-day')",
        (m, day[1]))
    # a replay of the same decision is a no-op
    db.execute(
        "INSERT INTO spamlab.relay_decision (message_id, received_at, rule,"
        " decision, cap) VALUES (%s, %s, 'first-peer', 'capped', 'cap-day')"
        " ON CONFLICT DO NOTHING", (m, day[1]))
    rows = db.execute(
        "SELECT day, messages, probes, relayed, deliveries, capped,"
        " after_first_delivery FROM spamlab.relay_daily ORDER BY day"
    ).fetchall()
    assert rows == [
        (day[0].date(), 2, 1, 1, 1, 0, False),
        (day[1].date(), 3, 1, 0, 0, 1, True),
    ]
    rules = dict(db.execute(
        "SELECT rule, probes FROM spamlab.relay_rules").fetchall())
    assert rules == {"self-mention": 1, "first-peer": 1}
    # constraints: a capped probe names its cap; only relays are delivered
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO spamlab.relay_decision (message_id, received_at,"
            " rule, decision) VALUES (gen_random_uuid(), now(), 'r',"
            " 'capped')")
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO spamlab.relay_decision (message_id, received_at,"
            " rule, decision, delivered_at) VALUES (gen_random_uuid(), now(),"
            " 'r', 'disabled', now())")


def test_relay_grants(pg, db):
    with pg.connect(user="spamlab_ingest") as c:
        c.execute(
            "INSERT INTO spamlab.relay_decision (message_id, received_at,"
            " rule, decision) VALUES (gen_random_uuid(), now(), 'r',"
            " 'disabled')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM spamlab.relay_decision")
    db.execute("SET ROLE spamlab_reader")
    try:
        db.execute("SELECT * FROM spamlab.relay_daily").fetchall()
        db.execute("SELECT spamlab.dialect_hash(gen_random_uuid())")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(
                "INSERT INTO spamlab.relay_decision (message_id, received_at,"
                " rule, decision) VALUES (gen_random_uuid(), now(), 'r',"
                " 'disabled')")
    finally:
        db.execute("RESET ROLE")
