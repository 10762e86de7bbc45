"""SIGHUP reloads (issue 4): a real ingestd started with --config FILE, the
file rewritten, then SIGHUP.

- TLS: new sessions get the new certificate (its fingerprint, seen with
  Python's ssl on the implicit-TLS port and after STARTTLS); a session
  opened before the reload keeps working on the old one; a broken new
  certificate is refused with reload_failed and the running one stays.
- Listeners: a changed `listen` is bound before the old address is closed;
  an address that cannot be bound keeps the running listeners.
- Settings bound at start (spool_dir, user, pg_dsn, metrics_listen) keep
  their running value, with a reload_kept line.
- Relay: enabling relaying, caps, the smarthost and the rules change
  without a restart, and the day's counts do not reset.
"""
import hashlib
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from ingestd_helpers import INGESTD, free_port
from test_relay import Sink, start_server


def make_cert(d, name):
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return cert, key, hashlib.sha256(der).hexdigest()


def fingerprint(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), 5) as raw:
        with ctx.wrap_socket(raw) as t:
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


class Daemon:
    """ingestd reading every setting from a config file."""

    def __init__(self, pg, tmp_path, **settings):
        self.path = tmp_path / "ingestd.conf"
        self.logpath = tmp_path / "ingestd.log"
        self.settings = {
            "listen": f"127.0.0.1:{free_port()}",
            "metrics_listen": f"127.0.0.1:{free_port()}",
            "spool_dir": str(tmp_path / "spool"),
            "pg_dsn": pg.dsn(user="spamlab_ingest"),
            "hostname": "mx.reload.test",
            "janitor_interval_ms": "100",
            "rdns": "off",  # no DNS server in CI (test_rdns.py has a fake)
        }
        self.settings.update(settings)
        self.write()
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([str(INGESTD), "--config", str(self.path)],
                                     stdout=self.log, stderr=self.log)
        self.wait_port(self.port())

    def port(self, key="listen"):
        return int(self.settings[key].split(",")[0].rsplit(":", 1)[1])

    def write(self):
        self.path.write_text("".join(f"{k} = {v}\n"
                                     for k, v in self.settings.items()))

    def wait_port(self, port):
        end = time.monotonic() + 15
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.logtext()[-2000:]
            if accepts(port):
                return
            time.sleep(0.05)
        raise AssertionError("not listening on %d" % port)

    def reload(self, **changes):
        """Rewrite the file, SIGHUP, wait for the line that ends the reload
        (reloaded, or reload_failed for a file that does not validate)."""
        self.settings.update(changes)
        self.write()
        done = re.compile(r"event=(reloaded|reload_failed error=)")
        n = len(done.findall(self.logtext()))
        self.proc.send_signal(signal.SIGHUP)
        end = time.monotonic() + 10
        while len(done.findall(self.logtext())) == n:
            assert time.monotonic() < end, self.logtext()[-2000:]
            time.sleep(0.05)

    def logtext(self):
        return self.logpath.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture
def daemons(pg, tmp_path):
    started = []

    def start(**settings):
        d = Daemon(pg, tmp_path, **settings)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def test_sighup_reloads_tls_certificate(daemons, tmp_path):
    a_cert, a_key, a_fp = make_cert(tmp_path, "a")
    b_cert, b_key, b_fp = make_cert(tmp_path, "b")
    tport = free_port()
    d = daemons(tls_cert=a_cert, tls_key=a_key, starttls="on",
                tls_listen=f"127.0.0.1:{tport}")
    d.wait_port(tport)
    assert fingerprint(tport) == a_fp
    # a session that negotiated TLS before the reload
    old = smtplib.SMTP("127.0.0.1", d.port(), timeout=10)
    old.starttls(context=ssl._create_unverified_context())
    assert hashlib.sha256(old.sock.getpeercert(True)).hexdigest() == a_fp

    d.reload(tls_cert=b_cert, tls_key=b_key)
    assert "event=tls_reloaded" in d.logtext()
    assert fingerprint(tport) == b_fp  # new sessions: the new certificate
    with smtplib.SMTP("127.0.0.1", d.port(), timeout=10) as s:
        s.starttls(context=ssl._create_unverified_context())
        assert hashlib.sha256(s.sock.getpeercert(True)).hexdigest() == b_fp
    # the old session goes on with its context
    old.sendmail("a@spam.test", ["b@spam.test"], b"Subject: x\r\n\r\nold\r\n")
    old.quit()

    # a broken certificate: refused, the running one stays
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot a cert\n"
                   "-----END CERTIFICATE-----\n")
    d.reload(tls_cert=bad, tls_key=b_key)
    assert "event=reload_failed what=tls" in d.logtext()
    assert fingerprint(tport) == b_fp


def test_sighup_rebinds_listeners(daemons):
    d = daemons(starttls="off")
    p1 = d.port()
    p2, p3 = free_port(), free_port()
    d.reload(listen=f"127.0.0.1:{p2}", hostname="mx2.reload.test")
    assert accepts(p2) and not accepts(p1)
    with smtplib.SMTP("127.0.0.1", p2, timeout=10) as s:
        assert b"mx2.reload.test" in s.ehlo()[1]  # the new host name
    # keep p2 (no second bind of a bound address), add p3
    d.reload(listen=f"127.0.0.1:{p2},127.0.0.1:{p3}")
    assert accepts(p2) and accepts(p3)
    with smtplib.SMTP("127.0.0.1", p3, timeout=10) as s:
        assert s.noop()[0] == 250
    # an address in use elsewhere: nothing changes
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        bport = busy.getsockname()[1]
        d.reload(listen=f"127.0.0.1:{bport}")
        assert "event=reload_failed what=listen" in d.logtext()
        assert accepts(p2) and accepts(p3)
    # settings bound at start keep their value and say so
    spool = d.settings["spool_dir"]
    d.reload(listen=f"127.0.0.1:{p2}", spool_dir=spool + "-elsewhere",
             pg_dsn="host=/nonexistent dbname=x")
    log = d.logtext()
    assert "event=reload_kept key=spool_dir" in log
    assert "event=reload_kept key=pg_dsn" in log
    assert accepts(p2) and not accepts(p3)


def probe(s, n):
    s.sendmail("probe@spam.test", [f"box{n}@probe.test"],
               f"Subject: check {n} via trap.example.test\r\n\r\nx\r\n"
               .encode())


def test_sighup_reloads_relay_settings(daemons, pg):
    sink_a, sink_b = Sink(), Sink()
    ctl_a, port_a = start_server(sink_a)
    ctl_b, port_b = start_server(sink_b)
    try:
        d = daemons(starttls="off", **{
            "relay.enabled": "off",
            "relay.smarthost": f"127.0.0.1:{port_a}",
            "relay.rule": "self: mentions-trap",
            "relay.trap_name": "trap.example.test",
            "relay.max_per_day": "1", "relay.max_attempts": "1",
            "sensor": f"reload_{os.getpid()}"})

        def send(n):
            with smtplib.SMTP("127.0.0.1", d.port(), timeout=10) as s:
                probe(s, n)
            time.sleep(0.5)  # let a delivery (right or wrong) happen

        send(0)  # relaying off: stored only
        d.reload(**{"relay.enabled": "on"})
        assert "event=relay_reloaded enabled=yes" in d.logtext()
        send(1)  # delivered: the day's one probe
        send(2)  # capped
        assert [m[1] for m in sink_a.messages] == [["box1@probe.test"]]
        # another rule, same cap: the count survives the reload
        d.reload(**{"relay.rule": "selfie: mentions-trap max-rcpt=2"})
        send(3)
        assert len(sink_a.messages) == 1
        # a higher cap and another smarthost: one more, to the new host
        d.reload(**{"relay.max_per_day": "2",
                    "relay.smarthost": f"127.0.0.1:{port_b}"})
        send(4)
        send(5)
        assert len(sink_a.messages) == 1
        assert [m[1] for m in sink_b.messages] == [["box4@probe.test"]]
        # a bad value: refused by validation, nothing changes
        d.reload(**{"relay.max_per_day": "100000"})
        assert "event=reload_failed" in d.logtext()
        # off again: judged no more
        d.reload(**{"relay.max_per_day": "5", "relay.enabled": "off"})
        send(6)
        assert len(sink_b.messages) == 1
        def decisions():
            with pg.connect() as c:
                return c.execute(
                    "SELECT rcpt_to[1], decision, coalesce(cap, '')"
                    " FROM spamlab.relay_decision WHERE sensor = %s"
                    " AND status = 'final' ORDER BY rcpt_to[1]",
                    (d.settings["sensor"],)).fetchall()
        end = time.monotonic() + 15
        while len(decisions()) < 5 and time.monotonic() < end:
            time.sleep(0.1)
        rows = decisions()
        assert rows == [("box1@probe.test", "relay", ""),
                        ("box2@probe.test", "capped", "cap-day"),
                        ("box3@probe.test", "capped", "cap-day"),
                        ("box4@probe.test", "relay", ""),
                        ("box5@probe.test", "capped", "cap-day")]
    finally:
        ctl_a.stop()
        ctl_b.stop()
