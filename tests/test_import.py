"""`ingestd import`: mbox, Maildir and .eml into spamlab.message.

Rules under test (docs/ingestd-sink.md): raw bytes are the file's bytes
(mbox: without the From_ line and the separating empty line, mboxrd
unquoted); label, folder and source as documented; non-mail files are
reported and skipped; re-importing adds nothing; PostgreSQL going away gives
a clear error and a non-zero exit, and a re-run completes without duplicates.
"""
import calendar
import os
import pty
import re
import select
import shutil
import subprocess
import time

import pytest

from conftest import TOP, shared_path
from sinkdb import sink_db  # noqa: F401 (fixture)

INGESTD = TOP / "ingestd" / "ingestd"


@pytest.fixture(scope="module", autouse=True)
def built():
    subprocess.run(["make", "-s", "-C", str(TOP / "ingestd")], check=True,
                   capture_output=True)


def run_import(dsn, *args, check=True, timeout=120):
    out = subprocess.run([str(INGESTD), "import", "--db", dsn, *map(str, args)],
                         capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"import failed ({out.returncode}):\n{out.stderr}")
    return out


def summary(stderr):
    line = [ln for ln in stderr.splitlines() if ln.startswith("import: ")][-1]
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}


def looks_like_mail(data):
    """The documented is-it-mail test, restated."""
    names = []
    lines = data.split(b"\n")
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]
    for i, ln in enumerate(lines):
        ln = ln.rstrip(b"\r")
        if ln == b"":
            break
        if ln[:1] in (b" ", b"\t"):
            if i == 0:
                return False
            continue
        m = re.match(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:", ln)
        if not m:
            if i == 0:
                return False
            break
        names.append(m.group(1).lower())
    common = {b"from", b"date", b"subject", b"received", b"message-id",
              b"return-path", b"to", b"mime-version", b"sender",
              b"delivered-to", b"content-type", b"reply-to"}
    return len(names) >= 2 and bool(common & set(names))


def mbox_split(data):
    """The documented mbox rule: From_ at the start or after an empty line
    (with a date or a header next), separator line dropped, mboxrd."""
    lines = data.splitlines(keepends=True)
    starts = []
    prev_empty = True
    for i, ln in enumerate(lines):
        if ln.startswith(b"From ") and (i == 0 or prev_empty):
            nxt = lines[i + 1] if i + 1 < len(lines) else b""
            has_date = re.search(rb"\d+:\d+", ln) is not None
            if i == 0 or has_date or re.match(rb"^[\x21-\x39\x3b-\x7e]+:", nxt):
                starts.append(i)
        prev_empty = ln in (b"\n", b"\r\n")
    msgs = []
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(lines)
        body = b"".join(lines[s + 1:e])
        if body.endswith(b"\r\n\r\n"):
            body = body[:-2]
        elif body.endswith(b"\n\n"):
            body = body[:-1]
        body = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
        msgs.append((lines[s], body))
    return msgs


def expected_raws(path):
    """(raw, source) for every message import should find in one file."""
    data = path.read_bytes()
    if data.startswith(b"From "):
        return [(raw, "mbox") for _, raw in mbox_split(data)]
    return [(data, "eml")]


def rows(conn, where="true"):
    return conn.execute(
        "SELECT raw, source, label, folder, sensor, received_at, size"
        f" FROM spamlab.message WHERE {where}").fetchall()


def test_nice_mbox(pg, sink_db):
    mbox = shared_path("mail", "spamassassin", "nice.mbox")
    dsn = pg.dsn(sink_db.info.dbname)
    out = run_import(dsn, "--label", "ham", mbox)
    want = mbox_split(mbox.read_bytes())
    got = rows(sink_db)
    assert len(got) == len(want) == 3
    assert sorted(r[0] for r in got) == sorted(raw for _, raw in want)
    for raw, source, label, folder, sensor, received_at, size in got:
        assert (source, label, folder, sensor) == ("mbox", "ham", "nice.mbox",
                                                   "import")
        assert size == len(raw)
    # received_at is the From_ line date
    first = want[0][0].decode()
    stamp = re.search(r"(\w{3}) +(\d+) (\d+):(\d+):(\d+) (\d{4})", first)
    mon, day, hh, mi, ss, yy = stamp.groups()
    t = calendar.timegm((int(yy), list(calendar.month_abbr).index(mon),
                         int(day), int(hh), int(mi), int(ss)))
    assert t in {int(r[5].timestamp()) for r in got}
    s = summary(out.stderr)
    assert (s["messages"], s["imported"], s["duplicates"]) == ("3", "3", "0")

    # a second import is a no-op
    out = run_import(dsn, "--label", "ham", mbox)
    s = summary(out.stderr)
    assert (s["imported"], s["duplicates"]) == ("0", "3")
    assert len(rows(sink_db)) == 3


def test_directories_of_eml(pg, sink_db):
    spam = shared_path("mail", "spamassassin", "spam")
    nice = shared_path("mail", "spamassassin", "nice")
    parser = shared_path("mail", "mail-parser")
    dsn = pg.dsn(sink_db.info.dbname)
    expected = {}
    not_mail = []
    for label, d in (("spam", spam), ("ham", nice), ("spam", parser)):
        out = run_import(dsn, "--label", label, d)
        for p in sorted(x for x in d.rglob("*") if x.is_file()):
            msgs = [(raw, src) for raw, src in expected_raws(p)
                    if looks_like_mail(raw)]
            if not msgs:
                not_mail.append(p)
                assert f'event=not_mail path="{p}"' in out.stderr
            for raw, src in msgs:
                # byte-identical copies are one message (documented)
                expected.setdefault(raw, (src, label))
    got = rows(sink_db)
    assert len(got) == len(expected)
    for raw, source, label, folder, *_ in got:
        assert raw in expected, raw[:200]
        assert (source, label) == expected[raw]
        assert folder is None or source == "mbox"
    names = {p.name for p in not_mail}
    assert {"LICENSE.txt", "mail_outlook_1"} <= names

    # everything again: nothing new
    before = len(got)
    for d in (spam, nice, parser):
        out = run_import(dsn, d)
        assert summary(out.stderr)["imported"] == "0"
    assert len(rows(sink_db)) == before


def test_maildir_and_non_mail(pg, sink_db, tmp_path):
    spam = shared_path("mail", "spamassassin", "spam")
    files = sorted(p for p in spam.iterdir() if p.is_file()
                   and not p.read_bytes().startswith(b"From ")
                   and looks_like_mail(p.read_bytes()))[:6]
    md = tmp_path / "Inbox"
    for sub in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
        (md / sub).mkdir(parents=True)
    shutil.copy(files[0], md / "cur" / "1.host:2,S")
    shutil.copy(files[1], md / "new" / "2.host")
    shutil.copy(files[2], md / "tmp" / "3.host")  # tmp/ is not delivered
    shutil.copy(files[3], md / ".Sent" / "cur" / "4.host:2,S")
    (md / "new" / "5.host").write_bytes(os.urandom(4096))
    (md / "new" / "6.host").write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(200))
    dsn = pg.dsn(sink_db.info.dbname)
    # a trailing slash does not change the folder name
    out = run_import(dsn, "--label", "spam", "--source-name", "tester",
                     f"{md}/")
    got = rows(sink_db)
    by_raw = {r[0]: r for r in got}
    assert len(got) == 3
    assert by_raw[files[0].read_bytes()][1:5] == ("maildir", "spam", "Inbox",
                                                  "tester")
    assert by_raw[files[1].read_bytes()][3] == "Inbox"
    assert by_raw[files[3].read_bytes()][3] == "Sent"
    assert files[2].read_bytes() not in by_raw
    assert out.stderr.count("event=not_mail") == 2
    s = summary(out.stderr)
    assert (s["messages"], s["not_mail"], s["imported"]) == ("3", "2", "3")


def test_eml_tree_and_single_files(pg, sink_db, tmp_path):
    nice = shared_path("mail", "spamassassin", "nice")
    src = sorted(p for p in nice.iterdir() if p.is_file())[:5]
    (tmp_path / "a" / "b").mkdir(parents=True)
    for i, p in enumerate(src[:3]):
        shutil.copy(p, tmp_path / "a" / ("b" if i else "") / f"{i}.eml")
    single = tmp_path / "single.eml"
    shutil.copy(src[3], single)
    dsn = pg.dsn(sink_db.info.dbname)
    run_import(dsn, "--label", "ham", tmp_path / "a", single)
    got = {r[0] for r in rows(sink_db)}
    want = set()
    for p in src[:4]:
        want |= {raw for raw, _ in expected_raws(p)}
    assert got == want


def test_mboxrd_unquoting(pg, sink_db, tmp_path):
    box = tmp_path / "q.mbox"
    box.write_bytes(
        b"From a@b Wed May 16 00:40:34 2001\nSubject: one\nFrom: a@b\n\n"
        b">From here\n>>From there\n\n"
        b"From c@d Thu May 17 00:40:34 2001\nSubject: two\nFrom: c@d\n\nx\n")
    dsn = pg.dsn(sink_db.info.dbname)
    run_import(dsn, box)
    got = sorted(r[0] for r in rows(sink_db))
    assert got == [b"Subject: one\nFrom: a@b\n\nFrom here\n>From there\n",
                   b"Subject: two\nFrom: c@d\n\nx\n"]
    assert {r[3] for r in rows(sink_db)} == {"q.mbox"}


def test_bad_arguments():
    out = subprocess.run([str(INGESTD), "import", "--label", "eggs", "x"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--label must be" in out.stderr
    out = subprocess.run([str(INGESTD), "import"], capture_output=True,
                         text=True)
    assert out.returncode == 2 and "usage" in out.stderr


def test_unreachable_database(tmp_path):
    box = tmp_path / "m.eml"
    box.write_bytes(b"Subject: x\nFrom: y\n\nbody\n")
    t0 = time.monotonic()
    out = run_import("host=127.0.0.1 port=1 dbname=x connect_timeout=2", box,
                     check=False)
    assert out.returncode == 1
    assert "cannot store messages" in out.stderr
    assert "Connection refused" in out.stderr
    assert time.monotonic() - t0 < 60


def make_mbox(path, n, size=4096):
    with open(path, "wb") as f:
        for i in range(n):
            head = (f"From gen@example.org Mon Jan  1 00:{i // 60 % 60:02d}:"
                    f"{i % 60:02d} 2024\nSubject: bulk {i}\nFrom: gen@example.org"
                    f"\nMessage-ID: <{i}@example.org>\n\n").encode()
            f.write(head + b"y" * (size - len(head)) + b"\n\n")


def pg_ctl(cluster, action):
    d = cluster.dir
    cmd = [os.path.join(cluster.env["SPAMLAB_PGBIN"], "pg_ctl"), "-D",
           f"{d}/data", "-w", "-t", "60"]
    if action == "stop":
        cmd += ["-m", "fast", "stop"]
    else:
        cmd += ["-l", f"{d}/log/postgres.log", "-o", f"-p {cluster.port}",
                "start"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", os.environ.get("SPAMLAB_PG_OSUSER", "postgres"),
               "--"] + cmd
    subprocess.run(cmd, check=True, capture_output=True)


def import_until_pg_stops(pg, dbname, args, env=None):
    """Run `ingestd import --batch-rows 1 ARGS` (one message per transaction:
    slow enough to stop the server midway), stop PostgreSQL once the first
    row is in, start it again; asserts the import failed with the advice to
    re-run it, and returns how many rows it had stored."""
    proc = subprocess.Popen(
        [str(INGESTD), "import", "--db", pg.dsn(dbname), "--batch-rows", "1"]
        + args, stderr=subprocess.PIPE, text=True, env=env)
    try:
        with pg.connect(dbname=dbname) as c:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if c.execute("SELECT count(*) FROM spamlab.message"
                             ).fetchone()[0] > 0:
                    break
                time.sleep(0.02)
        pg_ctl(pg, "stop")
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        if not os.path.exists(f"{pg.dir}/data/postmaster.pid"):
            pg_ctl(pg, "start")
    assert proc.returncode == 1, err
    assert "cannot store messages" in err
    assert "run the same import again" in err
    with pg.connect(dbname=dbname) as c:
        partial = c.execute("SELECT count(*) FROM spamlab.message").fetchone()[0]
    return partial


def test_postgres_stopped_mid_import(pg, sink_db, tmp_path):
    """Stops and restarts the session cluster (cheaper than a private one);
    connections opened before the stop are not used after it."""
    dbname = sink_db.info.dbname
    dsn = pg.dsn(dbname)
    box = tmp_path / "bulk.mbox"
    n = 3000
    make_mbox(box, n, size=1024)
    partial = import_until_pg_stops(pg, dbname, [str(box)])
    assert 0 < partial < n
    out = run_import(dsn, box)
    s = summary(out.stderr)
    assert int(s["imported"]) == n - partial
    assert int(s["duplicates"]) == partial
    with pg.connect(dbname=dbname) as c:
        total, distinct = c.execute(
            "SELECT count(*), count(DISTINCT id) FROM spamlab.message"
        ).fetchone()
    assert total == distinct == n


def run_import_pty(dsn, *args, timeout=120):
    """Run import with stderr on a pseudo-terminal; (returncode, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(INGESTD), "import", "--db", dsn, *map(str, args)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return rc, out.decode(errors="replace")


BAR = re.compile(r"\r\[[=> ]{30}\] +\d+% \d+ msgs [\d.]+ MB \d+ msg/s")


def test_progress_bar_only_on_a_terminal(pg, sink_db, tmp_path):
    box = tmp_path / "p.mbox"
    make_mbox(box, 200, size=1024)
    dsn = pg.dsn(sink_db.info.dbname)

    # stderr is a terminal: the bar is drawn and ends at 100% of 200
    rc, out = run_import_pty(dsn, box)
    assert rc == 0, out
    assert BAR.search(out), out
    assert re.search(r"\r\[={30}\] 100% 200 msgs", out), out
    assert "import: files=1 messages=200" in out

    # --no-progress on a terminal: no bar, same summary
    rc, out = run_import_pty(dsn, "--no-progress", box)
    assert rc == 0, out
    assert not BAR.search(out) and "\r[" not in out, out
    assert "import: files=1 messages=200" in out

    # stderr is a pipe: no bar
    proc = run_import(dsn, box)
    assert "\r[" not in proc.stderr and not BAR.search(proc.stderr)
    assert summary(proc.stderr)["messages"] == "200"
