"""Probe delivery (issue 6): `ingestd relay-send` against a second SMTP
server on 127.0.0.1 (aiosmtpd, with STARTTLS) as the smarthost, and in MX
mode against dnsmasq serving test MX records on a loopback port.

relay-send drives exactly the client the daemon uses (ingestd/src/relay.c).
Nothing here touches the internet: every server binds 127.0.0.1.
"""
import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from conftest import TOP

# SPAMLAB_INGESTD runs the tests against another build (e.g. ASan)
INGESTD = os.environ.get("SPAMLAB_INGESTD", str(TOP / "ingestd" / "ingestd"))
DNSMASQ = "/usr/sbin/dnsmasq"

aiosmtpd = pytest.importorskip(
    "aiosmtpd.controller", reason="python3-aiosmtpd is not installed")

MESSAGE = (b"From: probe@spam.test\r\nTo: box@probe.test\r\n"
           b"Subject: relay test 198.51.100.7\r\n\r\n"
           b".leading dot\r\nbare lf line\nlast line without end")
# what the server must receive: CRLF everywhere, dots unstuffed, final CRLF
EXPECTED = (b"From: probe@spam.test\r\nTo: box@probe.test\r\n"
            b"Subject: relay test 198.51.100.7\r\n\r\n"
            b".leading dot\r\nbare lf line\r\nlast line without end\r\n")


def free_udp_tcp_port():
    """A loopback port free for both UDP and TCP at the time of asking."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """An aiosmtpd handler that records envelopes; replies scripted by
    `rcpt_replies` (consumed one per RCPT, then 250) and `data_reply`."""

    def __init__(self, rcpt_replies=(), data_reply="250 2.0.0 Ok: queued"):
        self.rcpt_replies = list(rcpt_replies)
        self.data_reply = data_reply
        self.messages = []
        self.rcpt_calls = 0
        self.tls = []

    async def handle_RCPT(self, server, session, envelope, address, options):
        self.rcpt_calls += 1
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.tls.append(session.ssl is not None)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content or envelope.content))
        return self.data_reply


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                   check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(d / "cert.pem"), str(d / "key.pem"))
    return ctx


def self_probe_relay(smarthost_port, **more):
    """Ingestd settings relaying self-test probes (messages that mention
    trap.example.test, to at most 3 recipients) to a smarthost on
    127.0.0.1, once each unless more says otherwise."""
    return {"relay.enabled": "on",
            "relay.smarthost": f"127.0.0.1:{smarthost_port}",
            "relay.rule": "self: mentions-trap max-rcpt=3",
            "relay.trap_name": "trap.example.test",
            "relay.max_attempts": 1, **more}


def start_server(handler, tls_context=None):
    port = free_port()
    kw = {"hostname": "127.0.0.1", "port": port}
    if tls_context is not None:
        kw["tls_context"] = tls_context
    ctl = aiosmtpd.Controller(handler, **kw)
    ctl.start()
    return ctl, port


@pytest.fixture
def server(request, tls_context):
    """Start aiosmtpd with the Sink given by indirect parametrization."""
    started = []

    def make(handler, tls=True):
        ctl, port = start_server(handler, tls_context if tls else None)
        started.append(ctl)
        return port

    yield make
    for ctl in started:
        ctl.stop()


def relay_send(msg_path, *args, timeout=60):
    p = subprocess.run([INGESTD, "relay-send", *args, str(msg_path)],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout.strip(), p.stderr


@pytest.fixture
def msg(tmp_path):
    p = tmp_path / "probe.eml"
    p.write_bytes(MESSAGE)
    return p


def test_smarthost_starttls_delivers_bytes(server, msg):
    sink = Sink()
    port = server(sink)
    rc, out, err = relay_send(msg, "--smarthost", f"127.0.0.1:{port}",
                              "--helo", "mx.trap.test", "--from",
                              "probe@spam.test", "--to", "box@probe.test",
                              "--to", "box2@other.test")
    assert rc == 0, (out, err)
    assert "delivered=yes" in out and "attempts=1" in out
    assert 'tls="TLSv1.' in out
    assert len(sink.messages) == 1
    frm, rcpts, data = sink.messages[0]
    assert frm == "probe@spam.test"
    assert rcpts == ["box@probe.test", "box2@other.test"]
    assert data == EXPECTED
    assert sink.tls == [True]
    # the stored copy (here the file) is untouched
    assert msg.read_bytes() == MESSAGE


def test_smarthost_plain_when_starttls_disabled(server, msg):
    sink = Sink()
    port = server(sink)
    rc, out, _ = relay_send(msg, "--smarthost", f"127.0.0.1:{port}",
                            "--no-starttls", "--from", "a@spam.test",
                            "--to", "b@probe.test")
    assert rc == 0 and 'tls=""' in out
    assert sink.tls == [False]


def test_temporary_failure_retried_with_backoff(server, msg):
    # two 4xx attempts, then accepted on the third
    sink = Sink(rcpt_replies=["451 4.3.0 try later", "421 4.3.2 busy"])
    port = server(sink, tls=False)
    t0 = time.monotonic()
    rc, out, err = relay_send(msg, "--smarthost", f"127.0.0.1:{port}",
                              "--attempts", "4", "--backoff-ms", "300",
                              "--from", "a@spam.test", "--to", "b@probe.test")
    took = time.monotonic() - t0
    assert rc == 0, (out, err)
    assert "attempts=3" in out
    assert took >= 0.3 + 0.6 - 0.05  # 300 ms, then doubled to 600 ms
    assert len(sink.messages) == 1


def test_permanent_failure_is_final(server, msg):
    sink = Sink(rcpt_replies=["550 5.1.1 no such user"] * 5)
    port = server(sink, tls=False)
    rc, out, _ = relay_send(msg, "--smarthost", f"127.0.0.1:{port}",
                            "--attempts", "5", "--backoff-ms", "50",
                            "--from", "a@spam.test", "--to", "b@probe.test")
    assert rc == 1
    assert "permanent=yes" in out and "attempts=1" in out
    assert "code=550" in out and "no such user" in out
    assert sink.rcpt_calls == 1 and sink.messages == []
    assert msg.read_bytes() == MESSAGE


def test_unreachable_smarthost_gives_up_after_attempts(msg):
    port = free_port()  # nothing listens there
    rc, out, _ = relay_send(msg, "--smarthost", f"127.0.0.1:{port}",
                            "--attempts", "3", "--backoff-ms", "50",
                            "--from", "a@spam.test", "--to", "b@probe.test")
    assert rc == 1
    assert "permanent=no" in out and "attempts=3" in out
    assert "refused" in out
    assert msg.read_bytes() == MESSAGE


def test_silent_server_times_out(msg):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t0 = time.monotonic()
        rc, out, _ = relay_send(msg, "--smarthost", f"127.0.0.1:{port}",
                                "--attempts", "1", "--timeout-ms", "500",
                                "--from", "a@spam.test", "--to",
                                "b@probe.test")
        assert rc == 1 and 'reply="timeout"' in out
        assert time.monotonic() - t0 < 10


class SilentAfterData(Sink):
    """Takes the message, then never answers the final dot."""

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content or envelope.content))
        await asyncio.sleep(30)
        return "250 2.0.0 too late"


def test_no_retry_after_message_data(msg, server):
    """A timeout after the message went out is final: the server may have
    it, and a probe must never be delivered twice."""
    sink = SilentAfterData()
    port = server(sink, tls=False)
    rc, out, _ = relay_send(msg, "--smarthost", f"127.0.0.1:{port}",
                            "--attempts", "3", "--backoff-ms", "50",
                            "--timeout-ms", "700", "--from", "a@spam.test",
                            "--to", "b@probe.test")
    assert rc == 1
    assert "permanent=yes" in out and "attempts=1" in out, out
    assert "timeout after the message data; not retried" in out
    assert len(sink.messages) == 1


def test_bad_arguments_refused(msg):
    rc, _, err = relay_send(msg, "--smarthost", "127.0.0.1:1", "--from",
                            "a@b.test", "--to", "nodomain")
    assert rc == 2 and "refused" in err
    rc, _, err = relay_send(msg, "--smarthost", "host:99999", "--from",
                            "a@b.test", "--to", "c@d.test")
    assert rc == 2 and "relay.smarthost" in err


@pytest.fixture
def dns():
    """dnsmasq on a free loopback port, authoritative for .test:
    probe.test MX 5 mx0 (127.0.0.2: nothing listens) and MX 10 mx1
    (127.0.0.1); nomx.test has an address and no MX; nx.test does not
    exist."""
    if not os.access(DNSMASQ, os.X_OK):
        pytest.skip("dnsmasq is not installed (package dnsmasq-base)")
    # dnsmasq listens on UDP and TCP: the port must be free for both, and a
    # race with another process taking it is retried
    for attempt in range(5):
        port = free_udp_tcp_port()
        p = subprocess.Popen([
            DNSMASQ, "-k", "--no-resolv", "--no-hosts", f"--port={port}",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--pid-file=",
            "--local=/test/",
            "--mx-host=probe.test,mx1.probe.test,10",
            "--mx-host=probe.test,mx0.probe.test,5",
            "--host-record=mx1.probe.test,127.0.0.1",
            "--host-record=mx0.probe.test,127.0.0.2",
            "--host-record=nomx.test,127.0.0.1",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # wait until it answers
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x05probe\x04test\x00\x00\x0f\x00\x01")
        up = False
        for _ in range(50):
            if p.poll() is not None:
                break
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.1)
                try:
                    s.sendto(q, ("127.0.0.1", port))
                    s.recv(512)
                    up = True
                    break
                except OSError:
                    time.sleep(0.1)
        if up:
            break
        p.kill()
        err = p.communicate()[1].decode()
        if "Address already in use" not in err or attempt == 4:
            pytest.fail("dnsmasq did not start: " + err)
    yield f"127.0.0.1:{port}"
    p.terminate()
    p.wait(timeout=10)


def test_mx_mode_falls_back_to_next_mx(dns, server, msg):
    sink = Sink()
    port = server(sink)
    rc, out, err = relay_send(msg, "--resolver", dns, "--mx-port", str(port),
                              "--attempts", "1", "--timeout-ms", "3000",
                              "--from", "a@spam.test", "--to", "box@probe.test")
    assert rc == 0, (out, err)
    # mx0 (preference 5) refuses the connection; mx1 takes the message
    assert f'target="mx1.probe.test[127.0.0.1]:{port}"' in out
    assert 'tls="TLSv1.' in out
    assert sink.messages[0][2] == EXPECTED


def test_mx_mode_implicit_mx_and_nxdomain(dns, server, msg):
    sink = Sink()
    port = server(sink, tls=False)
    rc, out, _ = relay_send(msg, "--resolver", dns, "--mx-port", str(port),
                            "--from", "a@spam.test", "--to", "x@nomx.test")
    assert rc == 0 and 'target="nomx.test[127.0.0.1]' in out
    rc, out, _ = relay_send(msg, "--resolver", dns, "--mx-port", str(port),
                            "--attempts", "3", "--backoff-ms", "50",
                            "--from", "a@spam.test", "--to", "x@nx.test")
    assert rc == 1 and "permanent=yes" in out and "attempts=1" in out
    assert "nxdomain" in out
    assert len(sink.messages) == 1


def test_mx_mode_one_domain_per_delivery(dns, msg):
    rc, _, err = relay_send(msg, "--resolver", dns, "--from", "a@spam.test",
                            "--to", "x@probe.test", "--to", "y@nomx.test")
    assert rc == 2 and "one recipient domain" in err


def test_dead_resolver_is_temporary(msg):
    port = free_port(socket.SOCK_DGRAM)
    rc, out, _ = relay_send(msg, "--resolver", f"127.0.0.1:{port}",
                            "--attempts", "2", "--backoff-ms", "50",
                            "--timeout-ms", "300", "--from", "a@spam.test",
                            "--to", "x@probe.test")
    assert rc == 1 and "permanent=no" in out and "attempts=2" in out
    assert "tempfail" in out


def test_decision_record_loads_into_postgres(pg, server, msg, tmp_path):
    """--record writes the outcome as binary COPY tuples (relayrec.c) that
    load into spamlab.relay_decision: one delivered, one failed."""
    import uuid as uuidlib
    sink = Sink()
    port = server(sink)
    rec = tmp_path / "decisions.copy"
    mid = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
    rc, out, _ = relay_send(msg, "--smarthost", f"127.0.0.1:{port}",
                            "--record", str(rec), "--message-id", mid,
                            "--from", "a@spam.test", "--to", "b@probe.test",
                            "--to", "c@probe.test")
    assert rc == 0, out
    dead = free_port()
    rc, out, _ = relay_send(msg, "--smarthost", f"127.0.0.1:{dead}",
                            "--record", str(rec), "--attempts", "1",
                            "--from", "a@spam.test", "--to", "x@probe.test")
    assert rc == 1, out
    cols = ("message_id, received_at, decided_at, sensor, peer_ip, rule,"
            " decision, cap, target, rcpt_to, attempts, final_code,"
            " final_reply, tls, delivered_at, status")
    with pg.connect() as c:
        c.execute("TRUNCATE spamlab.relay_decision")
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
         f"\\copy spamlab.relay_decision ({cols}) FROM '{rec}'"
         " WITH (FORMAT binary)"],
        env=pg.environ(), check=True, capture_output=True)
    with pg.connect() as c:
        rows = c.execute(
            "SELECT message_id::text, rule, decision, target, rcpt_to,"
            " attempts, final_code, final_reply, tls IS NOT NULL,"
            " delivered_at IS NOT NULL FROM spamlab.relay_decision"
            " ORDER BY delivered_at NULLS LAST").fetchall()
        c.execute("TRUNCATE spamlab.relay_decision")
    assert len(rows) == 2
    ok, bad = rows
    assert ok[0] == mid and ok[1] == "relay-send" and ok[2] == "relay"
    assert ok[3] == f"127.0.0.1[127.0.0.1]:{port}"
    assert ok[4] == ["b@probe.test", "c@probe.test"]
    assert ok[5:8] == (1, 250, "250 2.0.0 Ok: queued") and ok[8] and ok[9]
    assert uuidlib.UUID(bad[0]).version == 7
    assert bad[6] is None and "refused" in bad[7] and not bad[9]
