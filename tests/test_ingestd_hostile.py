"""Hostile clients get honest replies, memory stays bounded, and everybody
else is still served: oversize messages, a 100 KB line, binary garbage,
slowloris, connection floods (2,000 at once) and per-address caps."""
import os
import pathlib
import shutil
import tempfile
import resource
import socket
import subprocess
import time

import pytest

from ingestd_helpers import INGESTD, Client, Ingestd, queued_id, sensor_name

pytestmark = pytest.mark.skipif(not INGESTD.exists(), reason="ingestd not built")


@pytest.fixture(scope="module")
def daemon(pg, tmp_path_factory):
    d = Ingestd(pg, tmp_path_factory.mktemp("hostile"), "hostile_module",
                max_message_size="64k", max_errors=5, command_timeout=2,
                data_timeout=2, max_sessions=3000, max_sessions_per_ip=3000)
    d.start()
    yield d
    assert d.stop() == 0


def send_ok(port):
    """A well-behaved client still gets its message accepted."""
    c = Client(port)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO good.example")[0] == 250
    assert c.cmd("MAIL FROM:<good@x>")[0] == 250
    assert c.cmd("RCPT TO:<v@y>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: fine\r\n\r\nok\r\n.\r\n")
    code, text = c.reply()
    assert code == 250, text
    c.cmd("QUIT")
    c.close()
    return queued_id(text)


def test_oversize_message_then_session_continues(daemon, db):
    c = Client(daemon.port)
    c.reply()
    c.cmd("EHLO big.example")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<c@d>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 100 + b".\r\n")
    code, text = c.reply()
    assert code == 552 and "5.3.4" in text
    # the session goes on: a small message after it is accepted
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<c@d>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: small\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    assert daemon.metrics()['ingestd_limit_total{limit="message_size"}'] >= 1


def test_100k_command_line(daemon):
    c = Client(daemon.port)
    c.reply()
    c.send(b"EHLO " + b"a" * 100_000 + b"\r\n")
    code, text = c.reply()
    assert code == 500 and "line too long" in text
    assert c.cmd("NOOP")[0] == 250
    c.cmd("QUIT")
    assert daemon.metrics()['ingestd_limit_total{limit="line_length"}'] >= 1


def test_100k_data_line_is_stored_as_sent(daemon, db):
    c = Client(daemon.port)
    c.reply()
    c.cmd("EHLO longline.example")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<c@d>")
    c.cmd("DATA")
    body = b"Subject: long\r\n\r\n" + b"y" * 60_000 + b"\r\n"
    c.send(body + b".\r\n")
    code, text = c.reply()
    assert code == 250
    c.cmd("QUIT")
    msg_id = queued_id(text)
    for _ in range(200):
        r = db.execute("SELECT raw FROM spamlab.message WHERE id = %s",
                       (msg_id,)).fetchone()
        if r:
            break
        time.sleep(0.1)
    assert bytes(r[0]) == body
    assert daemon.metrics()['ingestd_limit_total{limit="data_line_length"}'] >= 1


def test_binary_garbage(daemon):
    c = Client(daemon.port)
    c.reply()
    c.send(os.urandom(20_000).replace(b"\n", b"\r\n"))
    # garbage lines are answered 5xx until max_errors, then 421 and close
    codes = []
    try:
        while True:
            codes.append(c.reply()[0])
    except (ConnectionError, OSError):
        pass
    assert codes and codes[-1] == 421
    assert all(code >= 500 or code == 421 for code in codes)
    send_ok(daemon.port)


def test_commands_out_of_order_and_quit_mid_data(daemon):
    c = Client(daemon.port)
    c.reply()
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("RCPT TO:<a@b>")[0] == 503
    assert c.cmd("STARTTLS now")[0] == 501
    c.cmd("EHLO x")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<c@d>")
    c.cmd("DATA")
    c.send(b"Subject: cut\r\n\r\nhalf a mess")
    c.close()  # disconnect in the middle of DATA: no 250, nothing stored
    send_ok(daemon.port)


def test_slowloris_times_out(daemon):
    c = Client(daemon.port)
    c.reply()
    start = time.time()
    code = None
    try:
        for ch in b"EHLO slow.example.slow.example.slow.example\r\n":
            c.send(bytes([ch]))
            time.sleep(0.25)
            c.sock.settimeout(0.01)
            try:
                code = c.reply()[0]
                break
            except socket.timeout:
                pass
    except OSError:
        pass
    c.sock.settimeout(5)
    if code is None:
        code = c.reply()[0]
    # command_timeout is 2 s: the deadline is per command, not per byte
    assert code == 421 and time.time() - start < 6
    assert c.closed()
    assert daemon.metrics()['ingestd_limit_total{limit="command_timeout"}'] >= 1


def test_2000_concurrent_connections(daemon):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2200:
        pytest.skip("RLIMIT_NOFILE too low for 2,000 connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2200), hard))
    socks = []
    try:
        for _ in range(2000):
            s = socket.create_connection(("127.0.0.1", daemon.port), 10)
            socks.append(s)
        greeted = 0
        for s in socks:
            s.settimeout(10)
            if s.recv(512).startswith(b"220 "):
                greeted += 1
        assert greeted == 2000
        # 2,000 idle sessions: memory stays small
        rss = daemon.rss_kb()
        assert rss < 64 * 1024, f"RSS {rss} kB with 2,000 idle sessions"
        assert daemon.metrics()["ingestd_sessions_active"] >= 2000
        # others are still served
        send_ok(daemon.port)
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_per_address_cap(pg, tmp_path, request):
    d = Ingestd(pg, tmp_path, sensor_name(request), max_sessions_per_ip=3,
                max_sessions=10).start()
    try:
        held = [Client(d.port) for _ in range(3)]
        for c in held:
            assert c.reply()[0] == 220
        extra = Client(d.port)
        code, text = extra.reply()
        assert code == 421 and "too many connections" in text
        assert extra.closed()
        held[0].cmd("QUIT")
        held[0].close()
        time.sleep(0.3)
        send_ok(d.port)
        assert d.metrics()['ingestd_refused_total{reason="max_sessions_per_ip"}'] == 1
    finally:
        assert d.stop() == 0


def test_sigterm_drains(pg, tmp_path, request, db):
    d = Ingestd(pg, tmp_path, sensor_name(request)).start()
    idle = Client(d.port)
    idle.reply()
    idle.cmd("EHLO idle.example")
    busy = Client(d.port)
    busy.reply()
    busy.cmd("EHLO busy.example")
    busy.cmd("MAIL FROM:<a@b>")
    busy.cmd("RCPT TO:<c@d>")
    busy.cmd("DATA")
    busy.send(b"Subject: drain\r\n\r\n")
    d.proc.send_signal(15)
    # the idle session is told at once; new connections are refused
    assert idle.reply()[0] == 421
    # the message in flight still completes and is stored
    busy.send(b"finished\r\n.\r\n")
    code, text = busy.reply()
    assert code == 250
    assert busy.reply()[0] == 421
    d.proc.wait(30)
    assert d.proc.returncode == 0
    assert db.execute("SELECT count(*) FROM spamlab.message WHERE id = %s",
                      (queued_id(text),)).fetchone()[0] == 1


def test_sighup_reloads_limits(pg, tmp_path, request):
    conf = tmp_path / "ingestd.conf"
    conf.write_text("max_recipients = 1\n")
    d = Ingestd(pg, tmp_path, sensor_name(request), config=str(conf)).start()
    try:
        c = Client(d.port)
        c.reply()
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<a@b>")
        assert c.cmd("RCPT TO:<1@x>")[0] == 250
        assert c.cmd("RCPT TO:<2@x>")[0] == 452
        conf.write_text("max_recipients = 3  # raised\n")
        d.proc.send_signal(1)
        for _ in range(50):
            if "event=reloaded" in d.logtext():
                break
            time.sleep(0.1)
        assert c.cmd("RCPT TO:<2@x>")[0] == 250
        assert c.cmd("RCPT TO:<3@x>")[0] == 250
        assert c.cmd("RCPT TO:<4@x>")[0] == 452
        # a broken file is refused and the running settings stay
        conf.write_text("max_recipients = lots\n")
        d.proc.send_signal(1)
        for _ in range(50):
            if "event=reload_failed" in d.logtext():
                break
            time.sleep(0.1)
        assert "event=reload_failed" in d.logtext()
        c.cmd("QUIT")
    finally:
        assert d.stop() == 0


def send_sized(port, size):
    c = Client(port)
    c.reply()
    c.cmd("EHLO full.example")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<c@d>")
    c.cmd("DATA")
    c.send(b"Subject: fill\r\n\r\n" + (b"z" * 998 + b"\r\n") * (size // 1000)
           + b".\r\n")
    code, text = c.reply()
    c.cmd("QUIT")
    c.close()
    return code, text


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a tmpfs")
def test_full_spool_disk_answers_451(pg, db, tmp_path, request):
    spool = tmp_path / "spool"
    spool.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs",
                       str(spool)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        d = Ingestd(pg, tmp_path, sensor_name(request), starttls="off",
                    max_message_size="1M").start()
        try:
            codes = [send_sized(d.port, 150_000) for _ in range(6)]
            assert 451 in [c for c, _ in codes], codes
            assert all(c in (250, 451) for c, _ in codes)
            acked = [queued_id(t) for c, t in codes if c == 250]
            assert d.metrics()["ingestd_spool_errors_total"] >= 1
            # once the sink has committed and the spool is cleaned, it works
            time.sleep(3)
            code, text = send_sized(d.port, 150_000)
            assert code == 250, text
            acked.append(queued_id(text))
            for i in acked:
                for _ in range(100):
                    if db.execute("SELECT 1 FROM spamlab.message WHERE id = %s",
                                  (i,)).fetchone():
                        break
                    time.sleep(0.1)
                else:
                    raise AssertionError(f"{i} got a 250 but is not stored")
        finally:
            assert d.stop() == 0
    finally:
        subprocess.run(["umount", "-l", str(spool)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_drops_privileges(pg, tmp_path, request):
    # the spool's parent must be reachable by the unprivileged user
    top = tempfile.mkdtemp(prefix="spamlab-priv-")
    os.chmod(top, 0o711)
    d = Ingestd(pg, tmp_path, sensor_name(request), user="nobody",
                spool_dir=f"{top}/spool").start()
    d.spool = pathlib.Path(top) / "spool"
    try:
        with open(f"/proc/{d.proc.pid}/status") as f:
            uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
        assert uid == "65534"
        assert send_ok(d.port)
        assert os.stat(d.spool).st_uid == 65534
    finally:
        assert d.stop() == 0
        shutil.rmtree(top, ignore_errors=True)


def test_pipelined_flood_is_answered_in_order(daemon):
    c = Client(daemon.port)
    c.reply()
    before = daemon.metrics()['ingestd_limit_total{limit="commands_per_wakeup"}']
    c.send(b"EHLO flood\r\n" + b"".join(b"VRFY u%d\r\n" % i for i in range(300)))
    assert c.reply()[0] == 250
    for i in range(300):
        code, text = c.reply()
        assert code == 252 and text.endswith(f"u{i}")
    c.cmd("QUIT")
    after = daemon.metrics()['ingestd_limit_total{limit="commands_per_wakeup"}']
    assert after > before


def test_inflight_cap_pauses_new_commands(pg, tmp_path, request):
    d = Ingestd(pg, tmp_path, sensor_name(request),
                inflight_max_bytes="64k").start()
    try:
        senders = []
        for _ in range(3):
            c = Client(d.port)
            c.reply()
            c.cmd("EHLO big")
            c.cmd("MAIL FROM:<a@b>")
            c.cmd("RCPT TO:<c@d>")
            c.cmd("DATA")
            c.send(b"Subject: half\r\n\r\n" + b"h" * 30_000 + b"\r\n")
            senders.append(c)
        time.sleep(0.5)
        assert d.metrics()["ingestd_paused"] >= 1
        # a new session is greeted but its commands wait
        late = Client(d.port)
        assert late.reply()[0] == 220
        late.send(b"EHLO late\r\n")
        late.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            late.reply()
        # the messages in flight still complete, which lifts the pause
        for c in senders:
            c.send(b".\r\n")
            c.sock.settimeout(10)
            assert c.reply()[0] == 250
        late.sock.settimeout(10)
        assert late.reply()[0] == 250
        assert d.metrics()["ingestd_paused"] == 0
        assert d.metrics()["ingestd_backpressure_pauses_total"] >= 1
    finally:
        assert d.stop() == 0
