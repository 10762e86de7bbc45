"""kill -9 with probe relaying on (issue 6): a real ingestd relaying probes
to a slow smarthost (aiosmtpd on 127.0.0.1), a real PostgreSQL.

Probes and plain messages are sent while the daemon is killed with SIGKILL
at random points (and once, on purpose, while a delivery waits for the
smarthost's reply), then restarted on the same spool.  Afterwards every
acknowledged message is in spamlab.message exactly once, every
acknowledged probe has exactly one decision row and none is left
'sending', no probe reached the smarthost twice, and the daily cap held
across all the restarts.
"""
import asyncio
import random
import re
import smtplib
import struct
import threading
import time
import uuid
import zlib

from ingestd_helpers import Ingestd, sensor_name
from test_relay import Sink, self_probe_relay, start_server

CAP = 12  # relay.max_per_day (and per peer and domain)


class SlowSink(Sink):
    """Records each message when DATA ends, then waits `delay` seconds
    before its 250: a kill in that window leaves the delivery in flight."""

    def __init__(self, delay):
        super().__init__()
        self.delay = delay
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content or envelope.content))
        self.arrived.set()
        await asyncio.sleep(self.delay)
        return self.data_reply


def message(subject):
    return (f"From: <x@spam.test>\r\nTo: <box@probe.test>\r\n"
            f"Subject: {subject}\r\n\r\nbody\r\n").encode()


def send_one(s, probe, acked):
    """One message on an open smtplib connection; records its queued id."""
    token = uuid.uuid4().hex
    s.ehlo_or_helo_if_needed()
    subject = (f"relay check {token} via trap.example.test" if probe
               else f"cheap pills {token}")
    s.mail("x@spam.test")
    s.rcpt("box@probe.test")
    code, reply = s.data(message(subject))
    m = re.search(rb"queued as ([0-9a-f-]{36})", reply)
    if code == 250 and m:
        acked.append((m.group(1).decode(), probe, token))


def sender(port, acked, stop):
    """Send probes and plain messages until the daemon dies or stop."""
    n = 0
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            while not stop.is_set():
                send_one(s, n % 2 == 0, acked)
                n += 1
                time.sleep(0.03)
    except (smtplib.SMTPException, OSError):
        pass  # killed: whatever got a 250 is in `acked`


def test_kill9_during_probe_relaying(pg, tmp_path, request):
    sink = SlowSink(delay=1.5)
    ctl, sport = start_server(sink)
    sensor = sensor_name(request)
    d = Ingestd(pg, tmp_path, sensor, starttls="off", **self_probe_relay(
        sport, **{"relay.max_per_day": CAP, "relay.max_per_peer": CAP,
                  "relay.max_per_domain": CAP}))
    acked = []
    rnd = random.Random(6)
    try:
        # 1: kill while a delivery waits for the smarthost's 250
        d.start()
        with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
            send_one(s, True, acked)
        assert sink.arrived.wait(15), "the probe never reached the smarthost"
        d.kill9()
        sink.delay = 0.15  # from now on, random kills find some in flight
        # 2..5: kill at random points of a stream of probes and plain mail
        for _ in range(4):
            d.start()
            stop = threading.Event()
            t = threading.Thread(target=sender, args=(d.port, acked, stop))
            t.start()
            time.sleep(rnd.uniform(0.2, 1.2))
            d.kill9()
            stop.set()
            t.join(15)
        # a last, clean run: replay, record the interrupted deliveries
        d.start()
        ids = [a[0] for a in acked]
        probes = {a[0] for a in acked if a[1]}
        assert len(probes) > CAP, "too few probes to test the cap"

        def settled():
            with pg.connect() as c:
                stored = c.execute(
                    "SELECT count(*) FROM spamlab.message"
                    " WHERE sensor = %s AND id = ANY(%s::uuid[])",
                    (sensor, ids)).fetchone()[0]
                sending = c.execute(
                    "SELECT count(*) FROM spamlab.relay_decision"
                    " WHERE sensor = %s AND status = 'sending'",
                    (sensor,)).fetchone()[0]
            return stored == len(ids) and sending == 0
        deadline = time.time() + 60
        while time.time() < deadline and not settled():
            time.sleep(0.2)
        time.sleep(2.0)  # let anything wrong (a second delivery) show up
        assert d.stop() == 0
    finally:
        if d.proc and d.proc.poll() is None:
            d.proc.kill()
        ctl.stop()

    with pg.connect() as c:
        msgs = dict(c.execute(
            "SELECT id::text, count(*) FROM spamlab.message"
            " WHERE sensor = %s GROUP BY id", (sensor,)).fetchall())
        rows = c.execute(
            "SELECT message_id::text, decision, status, delivered_at,"
            " final_reply, rcpt_to FROM spamlab.relay_decision"
            " WHERE sensor = %s", (sensor,)).fetchall()
    print(f"acked={len(ids)} probes={len(probes)} delivered={len(sink.messages)}"
          f" rows={len(rows)} by status/decision/reply:",
          sorted({(r[1], r[2], (r[4] or "")[:40]) for r in rows}))
    # every acknowledged message exactly once (and no duplicate at all)
    assert all(msgs.get(i) == 1 for i in ids), \
        [i for i in ids if msgs.get(i) != 1]
    assert all(n == 1 for n in msgs.values())
    # every acknowledged probe: exactly one decision row, none unsettled
    per_msg = {}
    for r in rows:
        per_msg.setdefault(r[0], []).append(r)
    assert all(len(per_msg.get(i, [])) == 1 for i in probes), \
        [i for i in probes if len(per_msg.get(i, [])) != 1]
    assert not [r for r in rows if r[2] == "sending"]
    assert not [r for r in rows if r[0] not in msgs], "decision without message"
    # no probe reached the smarthost twice, and the cap held over restarts
    tokens = [re.search(rb"relay check ([0-9a-f]{32})", m[2]).group(1)
              for m in sink.messages]
    assert len(tokens) == len(set(tokens)), "a probe was delivered twice"
    assert len(tokens) <= CAP
    relayed = [r for r in rows if r[1] == "relay"]
    assert len(relayed) <= CAP
    # what the smarthost got matches the rows: delivered (final) or
    # interrupted ("may have been delivered"); the first probe was killed
    # in flight, so it is interrupted, not retried
    token_of = {a[0]: a[2].encode() for a in acked}
    first = acked[0][0]
    assert per_msg[first][0][2] == "interrupted"
    assert "may have been delivered" in per_msg[first][0][4]
    for r in rows:
        if r[3] is not None:
            assert r[2] == "final" and token_of.get(r[0], b"?") in tokens \
                or r[0] not in token_of
    assert tokens.count(token_of[first]) == 1
    # capped probes were never sent
    for r in rows:
        if r[1] == "capped" and r[0] in token_of:
            assert token_of[r[0]] not in tokens
    # the interrupted versions came from the journal or the spool replay
    log = d.logtext()
    assert "relay_delivery_interrupted" in log


# ---- a spool and a journal left by a crashed run, written by hand ----
# (this also pins the on-disk formats a new version must still replay:
# spool.c's record header, spoolrec.c's fields, relayhook.c's journal)

T = {"id": 1, "received_at": 2, "sensor": 4, "source": 5, "mail_from": 11,
     "rcpt": 12, "raw": 16, "decided_at": 22, "rule": 23, "decision": 24,
     "target": 26, "attempts": 27, "final_code": 28, "final_reply": 29,
     "delivered_at": 30, "status": 31, "run": 32}
SENDING, FINAL = 1, 0


def field(tag, data):
    return struct.pack("<BI", T[tag], len(data)) + data


def text(tag, s):
    return field(tag, s.encode() + b"\0")


def i64(tag, v):
    return field(tag, struct.pack("<q", v))


def message_payload(mid, at_us, sensor, raw):
    return (field("id", mid.bytes) + i64("received_at", at_us)
            + text("sensor", sensor) + text("source", "smtp")
            + text("mail_from", "probe@spam.test")
            + text("rcpt", "box@probe.test") + field("raw", raw))


def relay_payload(mid, at_us, sensor, status, run=77, reply=None,
                  delivered_us=0):
    p = (field("id", mid.bytes) + i64("received_at", at_us)
         + i64("decided_at", at_us + 1000) + i64("run", run)
         + text("sensor", sensor) + text("rule", "self")
         + text("decision", "relay") + text("target", "smarthost.test")
         + field("attempts", struct.pack("<i", 0 if status else 1))
         + field("final_code", struct.pack("<i", 0 if status else 250)))
    if reply:
        p += text("final_reply", reply)
    if delivered_us:
        p += i64("delivered_at", delivered_us)
    return p + text("rcpt", "box@probe.test") + field("status",
                                                      bytes([status]))


def spool_record(rtype, payload):
    head = struct.pack("<IIQI", 0x31524C53, rtype, len(payload),
                       zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def test_restart_settles_rows_a_crash_left(pg, tmp_path, request):
    """A: announced, never started (no journal entry): 'not sent'.  B: in
    the journal (its delivery had started): 'may have been delivered'.
    C: in the journal, but its final version was spooled: stays final."""
    sensor = sensor_name(request)
    now = int(time.time() * 1e6)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    spool = tmp_path / "spool"
    spool.mkdir()
    recs = b""
    for mid in (a, b, c):
        recs += spool_record(1, message_payload(mid, now, sensor, b"x\r\n"))
        recs += spool_record(3, relay_payload(mid, now, sensor, SENDING))
    recs += spool_record(3, relay_payload(c, now, sensor, FINAL,
                                          reply="250 ok",
                                          delivered_us=now + 2000))
    (spool / "0000000000000001.seg").write_bytes(recs)
    journal = b"SLRJ1\n"
    for mid in (b, c):
        p = relay_payload(mid, now, sensor, SENDING)
        journal += struct.pack("<I", len(p)) + p
    (spool / "relay-inflight").write_bytes(journal)

    # relaying is off in this run: the rows are settled all the same
    d = Ingestd(pg, tmp_path, sensor, starttls="off")
    try:
        d.start()

        def rows():
            with pg.connect() as conn:
                return {r[0]: r[1:] for r in conn.execute(
                    "SELECT message_id, status, final_reply,"
                    " delivered_at IS NOT NULL FROM spamlab.relay_decision"
                    " WHERE sensor = %s", (sensor,)).fetchall()}
        deadline = time.time() + 30
        while time.time() < deadline and (
                len(rows()) < 3
                or any(r[0] == "sending" for r in rows().values())
                or (spool / "relay-inflight").exists()):
            time.sleep(0.1)
        got = rows()
        assert got[a][0] == "interrupted" and "not sent" in got[a][1], got[a]
        assert got[b][0] == "interrupted" and \
            "may have been delivered" in got[b][1], got[b]
        assert got[c] == ("final", "250 ok", True)
        assert not (spool / "relay-inflight").exists()
        # again: nothing changes, nothing is added
        assert d.stop() == 0
        d.start()
        time.sleep(1.0)
        assert rows() == got
        with pg.connect() as conn:
            assert conn.execute(
                "SELECT count(*) FROM spamlab.message WHERE sensor = %s",
                (sensor,)).fetchone()[0] == 3
    finally:
        d.stop()


def test_row_versions_reach_the_table(pg, tmp_path, request):
    """A delivery's row while it runs: 'sending' with no attempts, then
    (after a 451 and before the retry) 'sending' with attempts 1 and the
    451, then 'final' and delivered: each version upserted in turn."""
    sink = Sink(rcpt_replies=["451 4.7.1 try later"])
    ctl, sport = start_server(sink)
    sensor = sensor_name(request)
    d = Ingestd(pg, tmp_path, sensor, starttls="off", **self_probe_relay(
        sport, **{"relay.max_attempts": 2, "relay.backoff_ms": 3000}))

    def row():
        with pg.connect() as c:
            return c.execute(
                "SELECT status, attempts, final_code, delivered_at IS NOT NULL"
                " FROM spamlab.relay_decision WHERE sensor = %s",
                (sensor,)).fetchone()
    try:
        d.start()
        with smtplib.SMTP("127.0.0.1", d.port, timeout=10) as s:
            acked = []
            send_one(s, True, acked)
        seen = set()
        deadline = time.time() + 20
        while time.time() < deadline:
            r = row()
            if r:
                seen.add(r)
            if r and r[0] == "final":
                break
            time.sleep(0.05)
        assert ("sending", 1, 451, False) in seen, seen
        assert row() == ("final", 2, 250, True)
        assert len(sink.messages) == 1
    finally:
        d.stop()
        ctl.stop()
