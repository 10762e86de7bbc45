"""Durability: every message that got a 250 is in spamlab.message exactly
once, through kill -9 under load, PostgreSQL going away mid-load, and a
Postfix smtp-source run with 50 parallel sessions."""
import os
import shutil
import smtplib
import subprocess
import threading
import time

import pytest

from ingestd_helpers import INGESTD, Ingestd, queued_id, sensor_name

pytestmark = pytest.mark.skipif(not INGESTD.exists(), reason="ingestd not built")


class Load:
    """Client threads sending numbered messages; remembers what got a 250."""

    def __init__(self, port, threads=6, per_conn=20):
        self.port = port
        self.acked = {}  # id -> body
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors = 0
        self.threads = [threading.Thread(target=self.run, args=(t, per_conn))
                        for t in range(threads)]

    def run(self, t, per_conn):
        n = 0
        while not self.stop.is_set():
            try:
                s = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                s.ehlo(f"load{t}.example")
                for _ in range(per_conn):
                    if self.stop.is_set():
                        break
                    n += 1
                    body = (f"Subject: t{t} n{n}\r\n\r\n".encode()
                            + os.urandom(600).hex().encode() + b"\r\n")
                    s.mail(f"t{t}@load.example")
                    s.rcpt("sink@victim.example")
                    code, text = s.data(body)
                    if code == 250:
                        with self.lock:
                            self.acked[queued_id(text.decode())] = body
                s.quit()
            except (OSError, smtplib.SMTPException):
                self.errors += 1
                time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def check_exactly_once(d, db, acked, timeout=60):
    deadline = time.time() + timeout
    while True:
        rows = dict(db.execute(
            "SELECT id::text, count(*) FROM spamlab.message WHERE sensor = %s"
            " GROUP BY id", (d.sensor,)).fetchall())
        missing = [i for i in acked if i not in rows]
        if not missing or time.time() > deadline:
            break
        time.sleep(0.2)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged messages lost"
    dups = {i: n for i, n in rows.items() if n != 1}
    assert not dups, f"duplicated rows: {list(dups.items())[:5]}"
    # and the bytes are the ones sent
    sample = list(acked)[:: max(1, len(acked) // 50)]
    for i in sample:
        raw = db.execute("SELECT raw FROM spamlab.message WHERE id = %s",
                         (i,)).fetchone()[0]
        assert bytes(raw) == acked[i]
    return rows


def test_kill9_under_load(pg, db, tmp_path, request):
    d = Ingestd(pg, tmp_path, sensor_name(request)).start()
    with Load(d.port) as load:
        for _ in range(3):
            time.sleep(1.5)
            d.kill9()
            time.sleep(0.3)
            d.start()
        time.sleep(1.0)
    acked = dict(load.acked)
    assert len(acked) > 50, f"only {len(acked)} messages acknowledged"
    rows = check_exactly_once(d, db, acked)
    assert d.stop() == 0
    # a restart replays nothing twice either
    d.start()
    time.sleep(1)
    assert d.stop() == 0
    again = dict(db.execute(
        "SELECT id::text, count(*) FROM spamlab.message WHERE sensor = %s"
        " GROUP BY id", (d.sensor,)).fetchall())
    assert again == rows


def pg_ctl(pg, *args):
    subprocess.run(["runuser", "-u", "postgres", "--",
                    f"{pg.env['SPAMLAB_PGBIN']}/pg_ctl", "-D", f"{pg.dir}/data",
                    "-w", "-t", "60"] + list(args),
                   check=True, capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run pg_ctl as postgres")
def test_postgres_down_mid_load(pg, db, tmp_path, request):
    d = Ingestd(pg, tmp_path, sensor_name(request)).start()
    with Load(d.port) as load:
        time.sleep(1.0)
        pg_ctl(pg, "-m", "fast", "stop")
        try:
            n_before = len(load.acked)
            time.sleep(2.0)
            # clients are still served while the database is away
            assert len(load.acked) > n_before
            assert d.metrics()["ingestd_spool_records_pending"] > 0
        finally:
            pg_ctl(pg, "-l", f"{pg.dir}/log/postgres.log", "-o",
                   f"-p {pg.port}", "start")
        time.sleep(1.0)
    db.close()
    with pg.connect() as conn:
        check_exactly_once(d, conn, dict(load.acked))
    assert d.stop() == 0


@pytest.mark.skipif(not shutil.which("smtp-source", path="/usr/sbin:/usr/bin"),
                    reason="postfix smtp-source not installed")
def test_smtp_source_50_sessions(pg, db, tmp_path, request):
    d = Ingestd(pg, tmp_path, sensor_name(request)).start()
    n = 1000
    # a 4 KB message with a leading-dot line; smtp-source -F sends it with
    # CRLF line ends, dot-stuffed, plus one empty line before the final dot
    msg = tmp_path / "msg.txt"
    text = (b"Subject: smtp-source\nX-Spam: yes\n\n.leading dot\n"
            + b"".join(b"line %04d of the body, padding padding padding\n" % i
                       for i in range(85)))
    msg.write_bytes(text)
    expected = text.replace(b"\n", b"\r\n") + b"\r\n"
    out = subprocess.run(
        ["/usr/sbin/smtp-source", "-s", "50", "-m", str(n), "-d", "-F", str(msg),
         "-f", "src@spam.example", "-t", "dst@victim.example",
         f"127.0.0.1:{d.port}"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    d.wait_rows(db, n, timeout=60)
    stats = db.execute(
        "SELECT count(*), count(DISTINCT id), bool_and(raw = %s),"
        " bool_and(mail_from = 'src@spam.example'),"
        " bool_and(rcpt_to = '{dst@victim.example}')"
        " FROM spamlab.message WHERE sensor = %s",
        (expected, d.sensor)).fetchone()
    assert stats == (n, n, True, True, True)
    assert len(expected) >= 4096
    m = d.metrics()
    assert m["ingestd_messages_total"] == n
    # group commit: far fewer fsync passes than messages
    assert m["ingestd_spool_fsyncs_total"] < n
    assert d.stop() == 0
