"""ingestd looks up each client's reverse DNS before its banner (PTR, then
A/AAAA to confirm it, on libevent's evdns) and stores the name and a status
in spamlab.smtp_session.  A fake DNS server on 127.0.0.1 (tests/fakedns.py)
answers; the clients connect from different loopback addresses (127.0.0.N)
so one daemon sees every case.  Nothing here touches a real DNS server."""
import re
import resource
import signal
import socket
import ssl
import struct
import subprocess
import time
import uuid
import zlib

import psycopg
import pytest

from fakedns import FakeDNS
from ingestd_helpers import INGESTD, Client, Ingestd, free_port, wait_for

pytestmark = pytest.mark.skipif(not INGESTD.exists(), reason="ingestd not built")


class From(Client):
    """A raw SMTP client connecting from a given loopback address."""

    def __init__(self, port, source="127.0.0.1", host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout,
                                             source_address=(source, 0))
        self.buf = b""


def rdns_daemon(pg, path, sensor, dns, **settings):
    s = {"rdns": "on", "rdns_timeout": "1",
         "rdns_nameservers": f"127.0.0.1:{dns.port}"}
    s.update(settings)
    return Ingestd(pg, path, sensor, starttls="off", **s)


def session_row(pg, sensor, peer):
    def get():
        with pg.connect() as conn:
            return conn.execute(
                "SELECT rdns, rdns_status, disconnect_reason"
                " FROM spamlab.smtp_session WHERE sensor = %s"
                " AND host(peer_ip) = %s", (sensor, peer)).fetchall()
    rows = wait_for(get)
    assert len(rows) == 1, rows
    return rows[0]


def converse(port, source, host="127.0.0.1"):
    """Banner (timed), then a whole message; the banner's delay."""
    t = time.monotonic()
    c = From(port, source, host)
    code, text = c.reply()
    waited = time.monotonic() - t
    assert code == 220, text
    assert c.cmd("EHLO client.rdns.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@rdns.test>")[0] == 250
    assert c.cmd("RCPT TO:<b@rdns.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: rdns\r\n\r\nhello\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("QUIT")[0] == 221
    c.close()
    return waited


@pytest.fixture(scope="module")
def dns():
    d = FakeDNS()
    yield d
    d.stop()


def test_statuses_are_stored(pg, tmp_path, dns):
    """Each answer of the DNS gives its status and name in smtp_session,
    the banner waits for the lookup (at most rdns_timeout), and the
    session then goes on normally."""
    dns.clear()
    dns.ptr("127.0.0.11", "Dsl-1-2-3-4.Pool.Example.")   # confirmed
    dns.a("dsl-1-2-3-4.pool.example", "192.0.2.99")
    dns.a("dsl-1-2-3-4.pool.example", "127.0.0.11")
    dns.ptr("127.0.0.12", "forged.example")              # A elsewhere
    dns.a("forged.example", "192.0.2.1")
    dns.ptr("127.0.0.13", "noaddr.example")              # no A at all
    dns.ptr("127.0.0.17", "bad name!.example")           # malformed name
    dns.ptr("127.0.0.18", "slow.example")                # A never answered
    dns.silent.add("slow.example")
    dns.servfail.add("15.0.0.127.in-addr.arpa")
    dns.silent.add("16.0.0.127.in-addr.arpa")
    # 127.0.0.14: nothing in the table, NXDOMAIN
    want = {
        "127.0.0.11": ("dsl-1-2-3-4.pool.example", "confirmed"),
        "127.0.0.12": ("forged.example", "unconfirmed"),
        "127.0.0.13": ("noaddr.example", "unconfirmed"),
        "127.0.0.14": (None, "none"),
        "127.0.0.17": ("bad?name!.example", "unconfirmed"),
        "127.0.0.15": (None, "error"),
        "127.0.0.16": (None, "timeout"),
        "127.0.0.18": ("slow.example", "timeout"),
    }
    d = rdns_daemon(pg, tmp_path, "rdns_statuses", dns)
    d.start()
    try:
        waited = {ip: converse(d.port, ip) for ip in want}
        for ip, (name, status) in want.items():
            assert session_row(pg, d.sensor, ip) == (name, status, "quit"), ip
        # the banner waited for the timeout, and no longer than that
        for ip in ("127.0.0.16", "127.0.0.18"):
            assert 0.9 <= waited[ip] < 3, (ip, waited[ip])
        for ip in ("127.0.0.11", "127.0.0.14"):
            assert waited[ip] < 0.9, (ip, waited[ip])
        # a malformed name is not looked up forward
        assert dns.queries.count(("bad name!.example", "A")) == 0
        assert ("noaddr.example", "A") in dns.queries
        m = d.metrics()
        for status, n in (("confirmed", 1), ("unconfirmed", 3), ("none", 1),
                          ("error", 1), ("timeout", 2)):
            key = f'ingestd_rdns_lookups_total{{status="{status}"}}'
            # the start-up probe of Ingestd.start() adds one "none"
            assert m[key] >= n, (key, m[key])
        assert m['ingestd_rdns_lookups_total{status="confirmed"}'] == 1
        log = d.logtext()
        assert re.search(r"event=rdns peer=127\.0\.0\.11 status=confirmed "
                         r"name=dsl-1-2-3-4\.pool\.example duration_ms=\d+",
                         log)
    finally:
        assert d.stop() == 0


def test_ipv6_client(pg, tmp_path, dns):
    """An IPv6 client: ip6.arpa PTR, then AAAA."""
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    dns.clear()
    dns.ptr("::1", "v6host.example")
    dns.aaaa("v6host.example", "::1")
    p6 = free_port()
    d = rdns_daemon(pg, tmp_path, "rdns_ipv6", dns)
    d.settings["listen"] += f",[::1]:{p6}"
    d.start()
    try:
        converse(p6, "::1", host="::1")
        assert session_row(pg, d.sensor, "::1") == (
            "v6host.example", "confirmed", "quit")
        assert ("v6host.example", "AAAA") in dns.queries
    finally:
        assert d.stop() == 0


def test_implicit_tls_client(pg, tmp_path, dns):
    """On a tls_listen port the lookup runs during the handshake and the
    banner after it still waits for the lookup."""
    dns.clear()
    dns.ptr("127.0.0.1", "tls-client.example")
    dns.a("tls-client.example", "127.0.0.1")
    dns.silent.add("51.0.0.127.in-addr.arpa")
    tport = free_port()
    d = rdns_daemon(pg, tmp_path, "rdns_tls", dns,
                    tls_listen=f"127.0.0.1:{tport}")
    d.start()
    try:
        c = Client(tport, tls=True)
        assert c.reply()[0] == 220
        assert c.cmd("EHLO tls.rdns.test")[0] == 250
        assert c.cmd("QUIT")[0] == 221
        c.close()
        # a client whose lookup times out gets its banner after it
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = time.monotonic()
        raw = socket.create_connection(("127.0.0.1", tport), 10,
                                       source_address=("127.0.0.51", 0))
        with ctx.wrap_socket(raw) as s:
            assert s.recv(512).startswith(b"220 ")
            assert 0.9 <= time.monotonic() - t < 3
        with pg.connect() as conn:
            def rows():
                return dict(conn.execute(
                    "SELECT host(peer_ip), rdns_status FROM spamlab.smtp_session"
                    " WHERE sensor = %s AND tls IS NOT NULL",
                    (d.sensor,)).fetchall())
            got = wait_for(lambda: len(rows()) == 2 and rows())
        assert got == {"127.0.0.1": "confirmed", "127.0.0.51": "timeout"}
    finally:
        assert d.stop() == 0


def test_off_sends_no_query(pg, tmp_path):
    """rdns = off: no DNS query at all, and NULL columns."""
    dns = FakeDNS()
    try:
        dns.ptr("127.0.0.1", "host.example")
        d = Ingestd(pg, tmp_path, "rdns_off", starttls="off", rdns="off",
                    rdns_nameservers=f"127.0.0.1:{dns.port}")
        d.start()
        try:
            converse(d.port, "127.0.0.31")
            assert session_row(pg, d.sensor, "127.0.0.31") == (
                None, None, "quit")
            assert "event=rdns peer" not in d.logtext()
        finally:
            assert d.stop() == 0
        assert dns.queries == []
    finally:
        dns.stop()


def test_clients_leaving_during_the_lookup(pg, tmp_path, dns):
    """Clients that connect and leave while their lookup is pending, many
    at a time: their sessions go at once (not after rdns_timeout), the
    evdns callback never touches a freed session, memory stays bounded,
    and the daemon serves the next client."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2200:
        pytest.skip("RLIMIT_NOFILE too low for 2,000 connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2200), hard))
    dns.clear()
    dns.silent.add("21.0.0.127.in-addr.arpa")
    d = rdns_daemon(pg, tmp_path, "rdns_leaving", dns, rdns_timeout="30",
                    max_sessions="3000", max_sessions_per_ip="3000")
    d.start()
    socks = []
    try:
        # one by one: connect, leave
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", d.port), 5,
                                         source_address=("127.0.0.21", 0))
            s.close()
        # 2,000 at once, all waiting for the DNS
        for _ in range(2000):
            socks.append(socket.create_connection(
                ("127.0.0.1", d.port), 10, source_address=("127.0.0.21", 0)))
        assert wait_for(lambda: d.metrics()["ingestd_sessions_active"] >= 2000)
        rss = d.rss_kb()
        assert rss < 64 * 1024, f"RSS {rss} kB with 2,000 pending lookups"
        for s in socks:
            s.close()
        socks = []
        # gone long before the 30 s timeout: the lookups were abandoned
        t = time.monotonic()
        assert wait_for(lambda: d.metrics()["ingestd_sessions_active"] == 0,
                        timeout=10)
        assert time.monotonic() - t < 10
        assert d.logtext().count("status=abandoned") >= 2200
        # and recorded: clients that did not wait for the banner
        assert wait_for(lambda: pg.connect().execute(
            "SELECT count(*) FROM spamlab.smtp_session WHERE sensor = %s"
            " AND rdns_status = 'abandoned' AND rdns IS NULL",
            (d.sensor,)).fetchone()[0] >= 2200, timeout=60)
        # and the next client is served (NXDOMAIN: at once)
        assert converse(d.port, "127.0.0.22") < 0.9
        assert session_row(pg, d.sensor, "127.0.0.22")[1] == "none"
        assert d.proc.poll() is None
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert d.stop() == 0


def test_reload_applies_new_nameservers(pg, tmp_path, dns):
    """SIGHUP with another rdns_nameservers: new sessions ask the new
    server (lookups already running finish on the old one)."""
    other = FakeDNS()
    try:
        dns.clear()
        other.ptr("127.0.0.41", "new.example")
        other.a("new.example", "127.0.0.41")
        conf = tmp_path / "ingestd.conf"
        conf.write_text(f"rdns_nameservers = 127.0.0.1:{other.port}\n")
        # (rdns defaults to on)
        d = rdns_daemon(pg, tmp_path, "rdns_reload", dns, config=str(conf))
        # from the file (flags would override it)
        del d.settings["rdns_nameservers"], d.settings["rdns"]
        d.start()
        try:
            converse(d.port, "127.0.0.41")
            assert session_row(pg, d.sensor, "127.0.0.41")[:2] == (
                "new.example", "confirmed")
            conf.write_text(f"rdns_nameservers = 127.0.0.1:{dns.port}\n")
            d.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "event=reloaded" in d.logtext())
            converse(d.port, "127.0.0.42")
            assert ("42.0.0.127.in-addr.arpa", "PTR") in dns.queries
            assert not any(q[0].startswith("42.") for q in other.queries)
            assert session_row(pg, d.sensor, "127.0.0.42")[1] == "none"
            # a list that does not parse keeps the running resolver
            conf.write_text("rdns_nameservers = ns.example\n")
            d.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "event=reload_failed" in d.logtext())
            converse(d.port, "127.0.0.43")
            assert ("43.0.0.127.in-addr.arpa", "PTR") in dns.queries
            # switched off: no query, NULL columns
            conf.write_text(f"rdns = off\nrdns_nameservers = 127.0.0.1:{dns.port}\n")
            n = len(d.logtext().split("event=reloaded")) - 1
            d.proc.send_signal(signal.SIGHUP)
            assert wait_for(
                lambda: len(d.logtext().split("event=reloaded")) - 1 > n)
            converse(d.port, "127.0.0.44")
            assert not any(q[0].startswith("44.") for q in dns.queries)
            assert session_row(pg, d.sensor, "127.0.0.44")[:2] == (None, None)
            assert d.proc.poll() is None
        finally:
            assert d.stop() == 0
    finally:
        other.stop()


# ---- spool compatibility: a session record written before sql/025 ----
# (tags: spoolrec.c; the record header: spool.c, as test_relay_crash.py)

def field(tag, data):
    return struct.pack("<BI", tag, len(data)) + data


def spool_record(rtype, payload):
    head = struct.pack("<IIQI", 0x31524C53, rtype, len(payload),
                       zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def session_payload(sid, at_us, sensor, rdns=None, status=None):
    p = (field(1, sid.bytes) + field(17, struct.pack("<q", at_us))
         + field(18, struct.pack("<q", at_us + 5000))
         + field(4, sensor.encode() + b"\0")
         + field(8, b"192.0.2.50\0") + field(9, struct.pack("<i", 4025))
         + field(10, b"old.helo.test\0") + field(19, b"quit\0")
         + field(20, struct.pack("<qi", 10, 250) + b"EHLO old.helo.test"))
    if rdns:
        p += field(33, rdns.encode() + b"\0")
    if status:
        p += field(34, status.encode() + b"\0")
    return p


def test_old_spool_replays(pg, tmp_path):
    """A spool left by the version before sql/025 (sessions without the
    rdns fields) replays into rows with NULL rdns; a record of this
    version carries both; both paths of the sink (direct COPY, staged)."""
    sensor = "rdns_old_spool"
    spool = tmp_path / "spool"
    spool.mkdir()
    now = int(time.time() * 1e6)
    old, new = uuid.uuid4(), uuid.uuid4()
    (spool / "0000000000000001.seg").write_bytes(
        spool_record(2, session_payload(old, now, sensor))
        + spool_record(2, session_payload(new, now, sensor,
                                          "dsl-9.pool.example", "confirmed")))
    d = Ingestd(pg, tmp_path, sensor, starttls="off")
    d.start()
    try:
        def rows():
            with pg.connect() as conn:
                return {r[0]: r[1:] for r in conn.execute(
                    "SELECT id, rdns, rdns_status, helo, n_commands"
                    " FROM spamlab.smtp_session WHERE id IN (%s, %s)",
                    (old, new)).fetchall()}
        got = wait_for(lambda: len(rows()) == 2 and rows())
        assert got[old] == (None, None, "old.helo.test", 1)
        assert got[new] == ("dsl-9.pool.example", "confirmed",
                            "old.helo.test", 1)
    finally:
        assert d.stop() == 0


def test_settings_in_check_config():
    """--check-config prints the settings with their production defaults
    and refuses a bad value, naming the key."""
    out = subprocess.run([str(INGESTD), "--check-config"],
                         capture_output=True, text=True)
    assert out.returncode == 0
    for line in ("rdns = on", "rdns_timeout = 5", "rdns_nameservers = "):
        assert line + "\n" in out.stdout, line
    out = subprocess.run([str(INGESTD), "--check-config", "--rdns=off",
                          "--rdns_timeout=2s",
                          "--rdns_nameservers=127.0.0.1:5353,[::1]"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "rdns = off\nrdns_timeout = 2\n" in out.stdout
    for bad in ("--rdns=maybe", "--rdns_timeout=0", "--rdns_timeout=61",
                "--rdns_nameservers=ns.example:53",
                "--rdns_nameservers=127.0.0.1,,"):
        out = subprocess.run([str(INGESTD), "--check-config", bad],
                             capture_output=True, text=True)
        assert out.returncode == 2 and bad[2:].split("=")[0] in out.stderr, (
            bad, out.stderr)


def test_status_check_constraint(db):
    """The column takes the five statuses and NULL, nothing else."""
    sid = uuid.uuid4()
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO spamlab.smtp_session (id, started_at,"
                   " rdns_status) VALUES (%s, now(), 'maybe')", (sid,))


# ---- the Received header of a relayed probe names a confirmed client ----

RECEIVED_FROM = {
    ("postfix", "bot.spam.test"):
        "Received: from bot.spam.test (bot-7.pool.example [127.0.0.1])",
    ("exim", "bot.spam.test"):
        "Received: from bot-7.pool.example ([127.0.0.1] helo=bot.spam.test)",
    # Exim writes helo= only when the HELO is not the verified name
    ("exim", "BOT-7.pool.example"):
        "Received: from bot-7.pool.example ([127.0.0.1])",
    ("sendmail", "bot.spam.test"):
        "Received: from bot.spam.test (bot-7.pool.example [127.0.0.1])",
    ("exchange", "bot.spam.test"):
        "Received: from bot.spam.test (127.0.0.1) by mx.test.example",
}


@pytest.mark.parametrize("persona,helo", sorted(RECEIVED_FROM))
def test_relayed_received_header_names_the_client(pg, tmp_path, dns, persona,
                                                  helo):
    """A confirmed client's name appears where the persona's MTA writes it
    (test_persona_relay.py checks the rest of the header, without a name);
    the stored message stays what the client sent."""
    from test_relay import Sink, self_probe_relay, start_server
    dns.clear()
    dns.ptr("127.0.0.1", "BOT-7.pool.example.")
    dns.a("bot-7.pool.example", "127.0.0.1")
    sink = Sink()
    ctl, sport = start_server(sink)
    d = rdns_daemon(pg, tmp_path, f"rdns_received_{persona}_{len(helo)}", dns,
                    persona=persona, **self_probe_relay(sport))
    sent = (b"From: <probe@spam.test>\r\nTo: <box@probe.test>\r\n"
            b"Subject: relay check via trap.example.test\r\n\r\nbody\r\n")
    d.start()
    try:
        c = Client(d.port)
        assert c.reply()[0] == 220
        c.cmd(f"EHLO {helo}")
        assert c.cmd("MAIL FROM:<probe@spam.test>")[0] == 250
        assert c.cmd("RCPT TO:<box@probe.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(sent + b".\r\n")
        assert c.reply()[0] == 250
        c.cmd("QUIT")
        c.close()
        assert wait_for(lambda: sink.messages), "nothing was relayed"
        delivered = sink.messages[0][2]
        if isinstance(delivered, str):
            delivered = delivered.encode()
        first = delivered.split(b"\r\n", 1)[0].decode()
        assert first == RECEIVED_FROM[persona, helo]
        m = re.match(rb"Received: (.*?)\r\n(?![ \t])", delivered, re.S)
        with pg.connect() as conn:
            # our own parser reads the name back (a self-check of the form)
            rdns, ip = conn.execute(
                "SELECT (p).from_rdns, host((p).from_ip) FROM"
                " spamlab.parse_received_header(%s) p",
                (m.group(1).decode(),)).fetchone()
            assert ip == "127.0.0.1"
            # (Exchange's "from HELO (IP)" carries no PTR name)
            if persona != "exchange":
                assert rdns == "bot-7.pool.example"
            d.wait_rows(conn, 1)
            raw = conn.execute("SELECT raw FROM spamlab.message"
                               " WHERE sensor = %s", (d.sensor,)).fetchone()[0]
            assert bytes(raw) == sent
    finally:
        assert d.stop() == 0
        ctl.stop()
