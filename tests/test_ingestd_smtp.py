"""ingestd speaks SMTP to real clients (swaks, smtplib, raw sockets) and
every accepted message reaches spamlab.message byte for byte, with its
envelope and the session record."""
import shutil
import smtplib
import ssl
import subprocess

import pytest

from ingestd_helpers import INGESTD, Client, Ingestd, queued_id

pytestmark = pytest.mark.skipif(not INGESTD.exists(), reason="ingestd not built")


@pytest.fixture(scope="module")
def daemon(pg, tmp_path_factory):
    d = Ingestd(pg, tmp_path_factory.mktemp("ingestd"), "smtp_module",
                tls_listen=f"127.0.0.1:{__import__('ingestd_helpers').free_port()}",
                max_message_size="256k", max_recipients=5)
    d.start()
    yield d
    assert d.stop() == 0


def row(db, msg_id):
    return db.execute(
        "SELECT m.*, a.username, a.password FROM spamlab.message m"
        " LEFT JOIN spamlab.message_auth a ON a.message_id = m.id"
        " WHERE m.id = %s", (msg_id,)).fetchone()


def wait_row(daemon, db, msg_id, timeout=20):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        cur = db.execute(
            "SELECT raw, helo, mail_from, rcpt_to, tls, auth_user, size,"
            " host(peer_ip) AS peer_ip, session_id, sensor"
            " FROM spamlab.message WHERE id = %s", (msg_id,))
        r = cur.fetchone()
        if r:
            return dict(zip([c.name for c in cur.description], r))
        time.sleep(0.1)
    raise AssertionError(f"message {msg_id} not in PostgreSQL")


def test_check_config(tmp_path):
    out = subprocess.run([str(INGESTD), "--check-config", "--max_recipients=7"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "max_recipients = 7" in out.stdout
    assert "max_message_size = 26214400" in out.stdout  # the default
    bad = subprocess.run([str(INGESTD), "--check-config", "--max_recipients=0"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "max_recipients" in bad.stderr
    conf = tmp_path / "ingestd.conf"
    conf.write_text("# comment\nlisten = 127.0.0.1:2525\nno_such_key = 1\n")
    bad = subprocess.run([str(INGESTD), "--check-config", "--config", str(conf)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no_such_key" in bad.stderr
    conf.write_text("max_errors = 3\ncommand_timeout = 2m\n")
    ok = subprocess.run([str(INGESTD), "--check-config", "--config", str(conf)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "command_timeout = 120" in ok.stdout


@pytest.mark.skipif(not shutil.which("swaks"), reason="swaks not installed")
@pytest.mark.parametrize("extra", [
    [],
    ["--pipeline"],
    ["--tls"],
    ["--tls", "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "s3cret"],
    ["--auth", "LOGIN", "--auth-user", "bob", "--auth-password", "hunter2"],
], ids=["plain", "pipelining", "starttls", "starttls-auth-plain", "auth-login"])
def test_swaks(daemon, db, extra):
    body = "Subject: swaks\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n"
    out = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{daemon.port}", "--helo", "spam.example",
         "--from", "s@spam.example", "--to", "v1@victim.example,v2@victim.example",
         "--data", body, "--timeout", "10"] + extra,
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    msg_id = queued_id(out.stdout)
    assert msg_id, out.stdout
    r = wait_row(daemon, db, msg_id)
    # swaks adds its own line ending after --data; the byte-exact checks are
    # done with smtplib and raw sockets below
    assert bytes(r["raw"]).startswith(b"Subject: swaks\r\n\r\nline one\r\n")
    assert r["helo"] == "spam.example"
    assert r["mail_from"] == "s@spam.example"
    assert r["rcpt_to"] == ["v1@victim.example", "v2@victim.example"]
    assert r["peer_ip"] == "127.0.0.1"
    assert r["size"] == len(bytes(r["raw"]))
    if "--tls" in extra:
        assert r["tls"].startswith("TLSv1")
    else:
        assert r["tls"] is None
    if "--auth-user" in extra:
        user = extra[extra.index("--auth-user") + 1]
        pw = extra[extra.index("--auth-password") + 1]
        assert r["auth_user"] == user
        a = db.execute("SELECT username, password FROM spamlab.message_auth"
                       " WHERE message_id = %s", (msg_id,)).fetchone()
        assert a == (user, pw)
        daemon.wait_rows(db, 1, table="spamlab.smtp_session")
        import time
        for _ in range(100):
            s = db.execute("SELECT mechanism, username, password, reply_code"
                           " FROM spamlab.smtp_auth WHERE session_id = %s",
                           (r["session_id"],)).fetchall()
            if s:
                break
            time.sleep(0.1)
        assert s == [(extra[extra.index("--auth") + 1], user, pw, 235)]


def test_smtplib_many_messages_one_session(daemon, db):
    s = smtplib.SMTP("127.0.0.1", daemon.port, timeout=10)
    s.ehlo("smtplib.example")
    assert s.has_extn("pipelining") and s.has_extn("8bitmime")
    assert s.has_extn("smtputf8") and s.has_extn("chunking")
    assert int(s.esmtp_features["size"]) == 256 * 1024
    bodies = [f"Subject: {i}\r\n\r\n".encode() + bytes(range(32, 127)) * i + b"\r\n"
              for i in range(10)]
    ids = []
    for b in bodies:
        code, text = s.data if False else (None, None)
        s.mail("a@b.example", ["8bitmime"] if False else [])
        s.rcpt("c@d.example")
        code, text = s.data(b)
        assert code == 250
        ids.append(queued_id(text.decode()))
    s.quit()
    for i, b in zip(ids, bodies):
        assert bytes(wait_row(daemon, db, i)["raw"]) == b


def test_raw_pipelined_bare_lf_and_session_record(daemon, db):
    c = Client(daemon.port)
    assert c.reply()[0] == 220
    body = b"Subject: raw\nbare lf line\n..dot\r\nmixed\r\n"
    c.send(b"EHLO raw.example\r\nMAIL FROM:<> SIZE=100 BODY=8BITMIME\r\n"
           b"RCPT TO:<x@y>\r\nDATA\r\n" + body + b".\r\nQUIT\r\n")
    codes = [c.reply()[0] for _ in range(5)]
    code, text = c.reply()
    assert codes == [250, 250, 250, 354, 250] or codes[:4] == [250, 250, 250, 354]
    replies = codes + [code]
    assert replies == [250, 250, 250, 354, 250, 221], replies
    c.close()
    # the fifth reply carried the id
    r = db.execute("SELECT id, raw, mail_from, session_id FROM spamlab.message"
                   " WHERE sensor = %s AND helo = 'raw.example'",
                   (daemon.sensor,)).fetchall()
    import time
    for _ in range(100):
        r = db.execute("SELECT id, raw, mail_from, session_id FROM spamlab.message"
                       " WHERE sensor = %s AND helo = 'raw.example'",
                       (daemon.sensor,)).fetchall()
        if r:
            break
        time.sleep(0.1)
    assert len(r) == 1
    assert bytes(r[0][1]) == b"Subject: raw\nbare lf line\n.dot\r\nmixed\r\n"
    assert r[0][2] == ""
    for _ in range(100):
        cmds = db.execute("SELECT command, reply_code FROM spamlab.smtp_command"
                          " WHERE session_id = %s ORDER BY n", (r[0][3],)).fetchall()
        if cmds:
            break
        time.sleep(0.1)
    assert cmds == [("EHLO raw.example", 250),
                    ("MAIL FROM:<> SIZE=100 BODY=8BITMIME", 250),
                    ("RCPT TO:<x@y>", 250), ("DATA", 354), (".", 250),
                    ("QUIT", 221)]
    sess = db.execute("SELECT disconnect_reason, helo, n_commands, host(peer_ip)"
                      " FROM spamlab.smtp_session WHERE id = %s",
                      (r[0][3],)).fetchone()
    assert sess == ("quit", "raw.example", 6, "127.0.0.1")


def session_of(db, msg_id, timeout=20):
    """(disconnect_reason, [(command, reply_code)]) of a message's session."""
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        sess = db.execute(
            "SELECT s.id, s.disconnect_reason FROM spamlab.message m"
            " JOIN spamlab.smtp_session s ON s.id = m.session_id"
            " WHERE m.id = %s", (msg_id,)).fetchone()
        if sess:
            cmds = db.execute("SELECT command, reply_code FROM"
                              " spamlab.smtp_command WHERE session_id = %s"
                              " ORDER BY n", (sess[0],)).fetchall()
            return sess[1], cmds
        time.sleep(0.1)
    raise AssertionError(f"no session row for message {msg_id}")


@pytest.mark.parametrize("quit", [True, False])
def test_half_close_while_spooling(daemon, db, quit):
    """A client that sends everything, shuts its side (the end of file
    reaches us while the message is being spooled) and still reads: it
    gets every reply, pipelined commands after the message are served,
    and the session ends as quit or eof."""
    import socket
    c = Client(daemon.port)
    assert c.reply()[0] == 220
    c.send(b"EHLO half.example\r\nMAIL FROM:<a@half.example>\r\n"
           b"RCPT TO:<b@half.example>\r\nDATA\r\nSubject: half\r\n\r\nx\r\n"
           b".\r\n" + (b"QUIT\r\n" if quit else b""))
    c.sock.shutdown(socket.SHUT_WR)
    replies = [c.reply() for _ in range(6 if quit else 5)]
    assert [r[0] for r in replies] == [250, 250, 250, 354, 250, 221][
        :len(replies)], replies
    assert c.closed()
    msg_id = queued_id(replies[4][1])
    assert wait_row(daemon, db, msg_id)["raw"] == b"Subject: half\r\n\r\nx\r\n"
    reason, cmds = session_of(db, msg_id)
    assert reason == ("quit" if quit else "eof")
    want = [("EHLO half.example", 250), ("MAIL FROM:<a@half.example>", 250),
            ("RCPT TO:<b@half.example>", 250), ("DATA", 354), (".", 250)]
    assert cmds == want + ([("QUIT", 221)] if quit else [])


def test_big_message_then_pipelined_commands(daemon, db):
    """A 200 KB message (dot-stuffed lines everywhere, so across every
    4 KB and 64 KB read boundary) and a second transaction and QUIT in the
    same write: both stored byte for byte, every reply in order."""
    import random
    rnd = random.Random(4)
    lines = []
    size = 0
    while size < 200_000:
        ln = ("." if rnd.random() < 0.2 else "") + "x" * rnd.randrange(0, 300)
        lines.append(ln)
        size += len(ln) + 2
    body = "Subject: big\r\n\r\n" + "\r\n".join(lines) + "\r\n"
    wire = "\r\n".join("." + ln if ln.startswith(".") else ln
                       for ln in body.split("\r\n"))
    c = Client(daemon.port)
    assert c.reply()[0] == 220
    c.send("EHLO big.example\r\nMAIL FROM:<a@big.example>\r\n"
           "RCPT TO:<b@big.example>\r\nDATA\r\n" + wire + ".\r\n"
           "MAIL FROM:<c@big.example>\r\nRCPT TO:<d@big.example>\r\n"
           "DATA\r\nSubject: small\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
    replies = [c.reply() for _ in range(10)]
    assert [r[0] for r in replies] == [250, 250, 250, 354, 250,
                                       250, 250, 354, 250, 221], replies
    first, second = queued_id(replies[4][1]), queued_id(replies[8][1])
    assert wait_row(daemon, db, first)["raw"] == body.encode()
    assert (wait_row(daemon, db, second)["raw"]
            == b"Subject: small\r\n\r\n.dot\r\n")


def test_replies_like_a_real_mta(daemon):
    c = Client(daemon.port)
    code, text = c.reply()
    assert code == 220 and "mx.test.example ESMTP" in text
    assert c.cmd("MAIL FROM:<a@b>")[0] == 503          # before HELO
    assert c.cmd("HELO x")[0] == 250
    assert c.cmd("RCPT TO:<a@b>")[0] == 503            # before MAIL
    assert c.cmd("DATA")[0] == 503                     # before RCPT
    assert c.cmd("VRFY root")[0] == 252
    assert c.cmd("EXPN staff")[0] == 502
    assert c.cmd("HELP")[0] == 502  # Postfix has no HELP
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("FOO bar")[0] == 502
    assert c.cmd("MAIL FROM:<a@b> FOO=1")[0] == 555
    assert c.cmd("MAIL FROM:<a@b> SIZE=999999999")[0] == 552
    assert c.cmd("MAIL FROM:a@b")[0] == 250             # sloppy but accepted
    assert c.cmd("MAIL FROM:<a@b>")[0] == 503          # nested
    assert c.cmd("DATA")[0] == 554                     # no recipients
    for i in range(5):
        assert c.cmd(f"RCPT TO:<r{i}@x>")[0] == 250
    assert c.cmd("RCPT TO:<r6@x>")[0] == 452           # max_recipients = 5
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("AUTH CRAM-MD5")[0] == 535
    assert c.cmd("QUIT")[0] == 221
    assert c.closed()


def test_bdat(daemon, db):
    c = Client(daemon.port)
    c.reply()
    c.cmd("EHLO bdat.example")
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<c@d>")
    c.send(b"BDAT 10\r\nSubject: x")
    assert c.reply()[0] == 250
    c.send(b"BDAT 9 LAST\r\n\r\n\r\n.\r\nhi")
    code, text = c.reply()
    assert code == 250, text
    msg_id = queued_id(text)
    # BDAT out of sequence: the chunk is swallowed, then 503
    c.send(b"BDAT 3\r\nabc")
    assert c.reply()[0] == 503
    assert c.cmd("NOOP")[0] == 250
    c.cmd("QUIT")
    assert bytes(wait_row(daemon, db, msg_id)["raw"]) == b"Subject: x\r\n\r\n.\r\nhi"


def test_implicit_tls(daemon, db):
    port = int(daemon.settings["tls_listen"].rsplit(":", 1)[1])
    c = Client(port, tls=True)
    code, text = c.reply()
    assert code == 220
    assert c.cmd("EHLO tls.example")[0] == 250
    assert "STARTTLS" not in c.cmd("EHLO tls.example")[1]
    assert c.cmd("AUTH PLAIN AGltcGxpY2l0AHB3")[0] == 235
    c.cmd("MAIL FROM:<a@b>")
    c.cmd("RCPT TO:<c@d>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: implicit\r\n\r\nx\r\n.\r\n")
    code, text = c.reply()
    assert code == 250
    c.cmd("QUIT")
    r = wait_row(daemon, db, queued_id(text))
    assert r["tls"].startswith("TLSv1") and r["auth_user"] == "implicit"


def test_starttls_drops_pipelined_plaintext(daemon):
    """Commands sent in clear after STARTTLS must not run inside TLS."""
    c = Client(daemon.port)
    c.reply()
    c.cmd("EHLO x")
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@x>\r\n")
    assert c.reply()[0] == 220
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.sock = ctx.wrap_socket(c.sock)
    c.buf = b""
    # after TLS the session starts over: MAIL needs a new EHLO
    assert c.cmd("MAIL FROM:<a@b>")[0] == 503
    assert c.cmd("EHLO x")[0] == 250
    assert c.cmd("MAIL FROM:<a@b>")[0] == 250
    c.cmd("QUIT")


def test_metrics(daemon):
    m = daemon.metrics()
    assert m["ingestd_sessions_total"] >= 1
    assert m["ingestd_messages_total"] >= 1
    assert m['ingestd_limit_total{limit="recipients"}'] >= 1
    assert "ingestd_spool_records_pending" in m
    assert "ingestd_sink_lag_seconds" in m
