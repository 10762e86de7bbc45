"""`ingestd import imap://...` against a real Dovecot on 127.0.0.1.

Rules under test (docs/imap.md): every folder, or the named ones, is read
with EXAMINE and BODY.PEEK[] (flags never change); raw is the server's
BODY[] byte for byte; source 'imap', folder the decoded mailbox name,
received_at the INTERNALDATE; labels from --folder-label, then \\Junk ->
spam and \\Sent -> sent, then --label; re-importing (under another host
name too) adds nothing; STARTTLS and imaps verify the certificate; a wrong
password, an unreachable server or a missing folder give a clear message
and a non-zero exit; a message the server cannot deliver is reported and
skipped.
"""
import datetime
import imaplib
import os
import re
import subprocess
import time

import pytest

from conftest import TOP, shared_path
from dovecottmp import Dovecot, free_port
from sinkdb import sink_db  # noqa: F401 (fixture)
from test_import import import_until_pg_stops, looks_like_mail

INGESTD = TOP / "ingestd" / "ingestd"
PASSWORD = "s3cret pass\"word"  # a space and a quote: LOGIN must quote it
TZ = datetime.timezone(datetime.timedelta(hours=2, minutes=30))

# folder on the wire (modified UTF-7) -> (decoded name, label expected with
# --label ham, test messages)
FOLDERS = {
    "INBOX": ("INBOX", "ham", ("spamassassin", "nice"), 10),
    "Junk": ("Junk", "spam", ("spamassassin", "spam"), 12),
    "Sent": ("Sent", "sent", ("mail-parser",), 3),
    "Entw&APw-rfe": ("Entw\u00fcrfe", "ham", ("spamassassin", "nice"), 2),
}


@pytest.fixture(scope="module", autouse=True)
def built():
    subprocess.run(["make", "-s", "-C", str(TOP / "ingestd")], check=True,
                   capture_output=True)


def mail_files(parts, n, skip=0):
    d = shared_path("mail", *parts)
    files = sorted(p for p in d.iterdir() if p.is_file()
                   and not p.name.startswith(("LICENSE", "NOTICE")))
    return files[skip:skip + n]


def login(server, user="alice", password=PASSWORD):
    m = imaplib.IMAP4("127.0.0.1", server.port)
    m.login(user, password)
    return m


def snapshot(server, user="alice", password=PASSWORD):
    """{(folder_wire, uid): (flags, internaldate, raw)} via EXAMINE and
    BODY.PEEK[] (so taking it changes nothing either)."""
    m = login(server, user, password)
    out = {}
    try:
        for wire in FOLDERS:
            typ, _ = m.select(f'"{wire}"', readonly=True)
            assert typ == "OK"
            typ, data = m.uid("FETCH", "1:*",
                              "(UID FLAGS INTERNALDATE BODY.PEEK[])")
            assert typ == "OK"
            for item in data:
                if not isinstance(item, tuple):
                    continue
                head, raw = item
                head = head.decode()
                uid = int(re.search(r"UID (\d+)", head).group(1))
                flags = set(re.search(r"FLAGS \(([^)]*)\)", head).group(1)
                            .split()) - {"\\Recent"}
                date = re.search(r'INTERNALDATE "([^"]+)"', head).group(1)
                when = datetime.datetime.strptime(date.strip(),
                                                  "%d-%b-%Y %H:%M:%S %z")
                out[(wire, uid)] = (flags, when, raw)
    finally:
        m.logout()
    return out


@pytest.fixture(scope="module")
def server():
    for v in FOLDERS.values():
        shared_path("mail", *v[2])  # skip early when the data is absent
    d = Dovecot({"alice": PASSWORD, "bulk": PASSWORD, "crash": PASSWORD})
    try:
        m = login(d)
        m.create('"Entw&APw-rfe"')
        k = 0
        for wire, (_, _, parts, n) in FOLDERS.items():
            for i, f in enumerate(mail_files(parts, n)):
                k += 1
                when = datetime.datetime(2019, 3, 1 + k % 28, 8 + k % 12,
                                         k % 60, k % 60, tzinfo=TZ)
                flags = "(\\Seen)" if i % 3 == 0 else None
                typ, _ = m.append(f'"{wire}"', flags,
                                  imaplib.Time2Internaldate(when),
                                  f.read_bytes())
                assert typ == "OK"
        m.logout()
        d.before = snapshot(d)
        yield d
    finally:
        d.stop()


def run_import(dsn, *args, password=PASSWORD, env=None, timeout=300):
    e = {**os.environ, **(env or {})}
    e.pop("INGESTD_IMAP_PASSWORD", None)
    if password is not None:
        e["INGESTD_IMAP_PASSWORD"] = password
    return subprocess.run(
        [str(INGESTD), "import", "--db", dsn, "--no-progress", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=e)


def summary(stderr):
    line = [ln for ln in stderr.splitlines() if ln.startswith("import: ")][-1]
    return dict(re.findall(r"(\w+)=(\S+)", line))


def rows(conn):
    return conn.execute(
        "SELECT folder, label, source, sensor, received_at, raw"
        " FROM spamlab.message ORDER BY folder, received_at").fetchall()


def url(server, folder="", scheme="imap", host="127.0.0.1", user="alice"):
    port = server.tls_port if scheme == "imaps" else server.port
    return f"{scheme}://{user}@{host}:{port}/{folder}"


def test_import_all_folders(pg, sink_db, server):
    dsn = pg.dsn(sink_db.info.dbname)
    out = run_import(dsn, "--label", "ham", "--tls-ca", server.cafile,
                     url(server, host="localhost"))  # STARTTLS, verified
    assert out.returncode == 0, out.stderr
    total = sum(v[3] for v in FOLDERS.values())
    s = summary(out.stderr)
    assert (s["folders"], s["messages"], s["imported"], s["errors"]) == \
        ("5", str(total), str(total), "0")  # Trash is empty
    assert 'folder="Junk" label=spam rule=special-use messages=12' in out.stderr
    assert 'folder="INBOX" label=ham rule=default messages=10' in out.stderr
    got = rows(sink_db)
    assert len(got) == total
    want = {}
    for (wire, uid), (flags, when, raw) in server.before.items():
        name, label = FOLDERS[wire][:2]
        want.setdefault((name, label, when, raw), 0)
        want[(name, label, when, raw)] += 1
    have = {}
    for folder, label, source, sensor, received_at, raw in got:
        assert (source, sensor) == ("imap", "import")
        key = (folder, label, received_at, bytes(raw))
        have[key] = have.get(key, 0) + 1
    # folder, label, received_at = INTERNALDATE, raw byte-identical
    assert have == want

    # nothing changed on the server: flags (\Seen) as before
    after = snapshot(server)
    assert {k: v[0] for k, v in after.items()} == \
        {k: v[0] for k, v in server.before.items()}
    assert any("\\Seen" in v[0] for v in after.values())
    assert any("\\Seen" not in v[0] for v in after.values())

    # a re-import adds nothing, also under another name and over imaps
    for again in (["--no-tls-verify", url(server)],
                  ["--tls-ca", server.cafile,
                   url(server, scheme="imaps", host="localhost")]):
        out = run_import(dsn, "--label", "ham", *again)
        assert out.returncode == 0, out.stderr
        s = summary(out.stderr)
        assert (s["imported"], s["duplicates"]) == ("0", str(total))
    assert len(rows(sink_db)) == total


def test_named_folders_and_labels(pg, sink_db, server):
    dsn = pg.dsn(sink_db.info.dbname)
    out = run_import(dsn, "--no-tls-verify", "--folder", "Entw\u00fcrfe",
                     "--folder-label", "Junk=ham",
                     "--folder-label", "Entw\u00fcrfe=sent",
                     url(server, "Junk"))
    assert out.returncode == 0, out.stderr
    got = sink_db.execute(
        "SELECT folder, label, count(*) FROM spamlab.message"
        " GROUP BY 1, 2 ORDER BY 1").fetchall()
    assert got == [("Entw\u00fcrfe", "sent", 2), ("Junk", "ham", 12)]

    # without --label, INBOX gets no label; \Sent still gives 'sent'
    out = run_import(dsn, "--no-tls-verify", "--folder", "inbox",
                     "--folder", "Sent", url(server))
    assert out.returncode == 0, out.stderr
    got = sink_db.execute(
        "SELECT folder, label, count(*) FROM spamlab.message"
        " WHERE folder IN ('INBOX', 'Sent') GROUP BY 1, 2 ORDER BY 1").fetchall()
    assert got == [("INBOX", None, 10), ("Sent", "sent", 3)]


def test_skip_folder(pg, sink_db, server):
    out = run_import(pg.dsn(sink_db.info.dbname), "--no-tls-verify",
                     "--skip-folder", "Junk", "--skip-folder", "inbox",
                     "--skip-folder", "Entw&APw-rfe", url(server))
    assert out.returncode == 0, out.stderr
    got = sink_db.execute(
        "SELECT folder, count(*) FROM spamlab.message GROUP BY 1").fetchall()
    assert got == [("Sent", 3)]
    assert summary(out.stderr)["folders"] == "2"  # Sent and the empty Trash


def test_wrong_password(pg, sink_db, server):
    out = run_import(pg.dsn(sink_db.info.dbname), "--no-tls-verify",
                     url(server), password="Wr0ngPassw0rd")
    assert out.returncode == 1
    assert "login failed" in out.stderr
    assert "uthentication failed" in out.stderr  # the server's own words
    assert "Wr0ng" not in out.stderr  # never the password
    assert rows(sink_db) == []


def test_no_password(pg, sink_db, server, tmp_path):
    dsn = pg.dsn(sink_db.info.dbname)
    out = run_import(dsn, "--no-tls-verify", url(server), password=None)
    assert out.returncode == 1
    assert "no password" in out.stderr and "--password-file" in out.stderr

    # the password in the URL is refused before connecting
    out = run_import(dsn, f"imap://alice:{PASSWORD}@127.0.0.1:{server.port}/")
    assert out.returncode == 1
    assert "password" in out.stderr and "not accepted" in out.stderr
    assert PASSWORD not in out.stderr  # not even echoed back

    # --password-file: the first line
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    out = run_import(dsn, "--no-tls-verify", "--password-file", pw,
                     url(server, "Sent"), password=None)
    assert out.returncode == 0, out.stderr
    assert summary(out.stderr)["imported"] == "3"


def test_postgres_unreachable(server):
    """The sink gives up (after its ~6 s of retries) while the fetch thread
    has delivered everything: a clear error, exit 1, no hang."""
    out = run_import(f"host=127.0.0.1 port={free_port()} dbname=x user=x",
                     "--no-tls-verify", url(server), timeout=120)
    assert out.returncode == 1
    assert "cannot store messages" in out.stderr
    assert "run the same import again" in out.stderr


def test_postgres_stopped_mid_import(pg, sink_db, server):
    """PostgreSQL stops while messages are still queued for the sink: exit
    1 with the usual message, and the same import run again completes the
    rows without duplicates.  Stops and restarts the session cluster, as
    test_import.py does."""
    dbname = sink_db.info.dbname
    dsn = pg.dsn(dbname)
    m = login(server, "crash")
    for i in range(1000):
        m.append("INBOX", None, None, b"From: gen@example.org\r\nSubject: "
                 b"crash %d\r\n\r\n" % i + b"y" * 1000 + b"\r\n")
    m.logout()
    env = {**os.environ, "INGESTD_IMAP_PASSWORD": PASSWORD}
    partial = import_until_pg_stops(
        pg, dbname, ["--no-tls-verify", url(server, "INBOX", user="crash")],
        env=env)
    assert 0 < partial < 1000
    out = run_import(dsn, "--no-tls-verify",
                     url(server, "INBOX", user="crash"))
    assert out.returncode == 0, out.stderr
    s = summary(out.stderr)
    assert (int(s["imported"]), int(s["duplicates"])) == (1000 - partial,
                                                          partial)
    with pg.connect(dbname=dbname) as c:
        total, distinct = c.execute(
            "SELECT count(*), count(DISTINCT id) FROM spamlab.message"
        ).fetchone()
    assert total == distinct == 1000


def test_unreachable_and_missing_folder(pg, sink_db, server):
    dsn = pg.dsn(sink_db.info.dbname)
    out = run_import(dsn, f"imap://alice@127.0.0.1:{free_port()}/")
    assert out.returncode == 1
    assert "cannot connect" in out.stderr

    # the wrong port: imaps to the plain port, imap to the TLS port (the
    # server waits for a TLS hello, the client for a greeting: a timeout)
    out = run_import(dsn, "--no-tls-verify",
                     f"imaps://alice@127.0.0.1:{server.port}/")
    assert out.returncode == 1
    assert "TLS handshake failed" in out.stderr
    out = run_import(dsn, "--imap-timeout", "2",
                     f"imap://alice@127.0.0.1:{server.tls_port}/")
    assert out.returncode == 1
    assert "timed out" in out.stderr

    out = run_import(dsn, "--no-tls-verify", url(server, "Nope"))
    assert out.returncode == 1
    assert 'no such folder "Nope"' in out.stderr
    assert '"Junk"' in out.stderr  # lists what there is
    assert rows(sink_db) == []


def test_tls_verification(pg, sink_db, server):
    dsn = pg.dsn(sink_db.info.dbname)
    # the test server's self-signed certificate is not in the system store
    for u in (url(server, "Sent"),
              url(server, "Sent", scheme="imaps", host="localhost")):
        out = run_import(dsn, u)
        assert out.returncode == 1, u
        assert "certificate verification failed" in out.stderr
        assert "--tls-ca" in out.stderr
    # trusted, but issued for localhost, not for 127.0.0.1
    out = run_import(dsn, "--tls-ca", server.cafile,
                     url(server, "Sent", scheme="imaps"))
    assert out.returncode == 1
    assert "certificate verification failed" in out.stderr
    assert rows(sink_db) == []
    out = run_import(dsn, "--tls-ca", server.cafile,
                     url(server, "Sent", scheme="imaps", host="localhost"))
    assert out.returncode == 0, out.stderr
    assert len(rows(sink_db)) == 3


def openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True,
                   capture_output=True)


def test_tls_chain(pg, sink_db, tmp_path):
    """A server certificate issued by an intermediate CA, the server sending
    leaf + intermediate: --tls-ca with the root verifies; so does the
    intermediate alone (what --tls-ca names is trusted as given); another
    root does not."""
    t = tmp_path
    for name in ("root", "other"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN=Test {name}", "-keyout", t / f"{name}.key",
                "-out", t / f"{name}.pem",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    (t / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\n"
                              "keyUsage=critical,keyCertSign,cRLSign\n")
    (t / "leaf.ext").write_text("subjectAltName=DNS:localhost\n"
                                "extendedKeyUsage=serverAuth\n")
    for name, issuer, ext, cn in (("inter", "root", "ca.ext", "Test inter"),
                                  ("leaf", "inter", "leaf.ext", "localhost")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                "-keyout", t / f"{name}.key", "-out", t / f"{name}.csr")
        openssl("x509", "-req", "-in", t / f"{name}.csr", "-CA",
                t / f"{issuer}.pem", "-CAkey", t / f"{issuer}.key",
                "-CAcreateserial", "-days", "2", "-out", t / f"{name}.pem",
                "-extfile", t / ext)
    (t / "chain.pem").write_bytes((t / "leaf.pem").read_bytes()
                                  + (t / "inter.pem").read_bytes())
    d = Dovecot({"alice": PASSWORD}, cert=t / "chain.pem", key=t / "leaf.key")
    try:
        dsn = pg.dsn(sink_db.info.dbname)
        for ca, ok in (("root", True), ("inter", True), ("other", False)):
            out = run_import(dsn, "--tls-ca", t / f"{ca}.pem",
                             url(d, "Sent", scheme="imaps", host="localhost"))
            assert (out.returncode == 0) == ok, (ca, out.stderr)
            if not ok:
                assert "certificate verification failed" in out.stderr
    finally:
        d.stop()


def test_plain_server_without_special_use(pg, sink_db):
    """A server with neither TLS nor special-use flags: --require-tls
    refuses it; without, the import goes on in clear text with a warning,
    and well-known folder names give the labels."""
    plain = Dovecot({"alice": PASSWORD}, ssl=False, special_use=False)
    try:
        m = login(plain)
        for folder in ("INBOX", "Spam", "Sent Items", "Junk"):
            if folder not in ("INBOX", "Junk"):
                m.create(f'"{folder}"')
            m.append(f'"{folder}"', None, None,
                     b"From: a@example.org\r\nSubject: " + folder.encode()
                     + b"\r\n\r\nbody\r\n")
        m.logout()
        dsn = pg.dsn(sink_db.info.dbname)
        out = run_import(dsn, "--require-tls", url(plain))
        assert out.returncode == 1
        assert "no STARTTLS" in out.stderr
        out = run_import(dsn, "--label", "ham", url(plain))
        assert out.returncode == 0, out.stderr
        assert "event=no_tls" in out.stderr
        assert summary(out.stderr)["imported"] == "4"
        assert 'folder="Sent Items" label=sent rule=name' in out.stderr
        got = sink_db.execute(
            "SELECT folder, label FROM spamlab.message ORDER BY 1").fetchall()
        assert got == [("INBOX", "ham"), ("Junk", "spam"), ("Sent Items", "sent"),
                       ("Spam", "spam")]
    finally:
        plain.stop()


def test_message_the_server_cannot_read(pg, sink_db):
    """Dovecot drops the connection when a message file is unreadable: the
    importer logs in again, reports that message and imports the rest."""
    d = Dovecot({"alice": PASSWORD})
    try:
        m = login(d)
        for f in mail_files(("spamassassin", "spam"), 6):
            m.append("Junk", None, None, f.read_bytes())
        m.logout()
        victim = sorted((d.maildir("alice") / ".Junk" / "new").iterdir())[2]
        victim.chmod(0)
        out = run_import(pg.dsn(sink_db.info.dbname), "--no-tls-verify",
                         url(d, "Junk"))
        assert out.returncode == 1
        assert "event=imap_fetch_failed" in out.stderr
        s = summary(out.stderr)
        assert (s["imported"], s["errors"]) == ("5", "1")
        assert len(rows(sink_db)) == 5
    finally:
        d.stop()


def test_thousand_messages(pg, sink_db, server):
    """1,000 messages in one folder; the same messages through the Maildir
    importer for comparison.  Rates are printed, not asserted (bench/)."""
    files = (mail_files(("spamassassin", "spam"), 100)
             + mail_files(("spamassassin", "nice"), 100))
    # what the Maildir importer takes for mail, also with a header before
    # (IMAP imports anything the server holds)
    bodies = [b for b in (f.read_bytes() for f in files)
              if looks_like_mail(b"X-Spamlab-Seq: 0\r\n" + b)]
    m = login(server, "bulk")
    for i in range(1000):
        raw = b"X-Spamlab-Seq: %d\r\n" % i + bodies[i % len(bodies)]
        m.append("INBOX", None, None, raw)
    m.logout()
    dsn = pg.dsn(sink_db.info.dbname)
    t0 = time.monotonic()
    out = run_import(dsn, "--no-tls-verify", url(server, "INBOX", user="bulk"))
    t_imap = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    s = summary(out.stderr)
    assert (s["messages"], s["imported"]) == ("1000", "1000")
    t0 = time.monotonic()
    out = run_import(dsn, server.maildir("bulk"))
    t_dir = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    assert summary(out.stderr)["imported"] == "1000", out.stderr[-600:]
    print(f"\nimap import: 1000 msgs in {t_imap:.2f}s = {1000 / t_imap:.0f}"
          f" msg/s; maildir import of the same: {t_dir:.2f}s ="
          f" {1000 / t_dir:.0f} msg/s; ratio {t_imap / t_dir:.1f}x")
    got = sink_db.execute(
        "SELECT source, count(*) FROM spamlab.message GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert got == [("imap", 1000), ("maildir", 1000)]
