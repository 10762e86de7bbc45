"""ingestd with `persona = postfix|exim|sendmail|exchange` answers like
that MTA: banner, EHLO keywords in its order (AUTH and STARTTLS included,
and inside TLS), every reply text (errors, AUTH, 421s, TLS) and the
queued-as reply with its queue-id shape, checked over the wire against the
transcripts the persona unit test uses (ingestd/test/data/persona/*.txt).
The default persona (postfix) gives the message id as its queue id.  With
persona_delay on, the banner and the 250 after DATA wait the persona's
delays (libevent timers), and pipelined commands are still answered in
order."""
import base64
import re
import socket
import ssl
import subprocess
import time

import pytest

from ingestd_helpers import INGESTD, TOP, Client, Ingestd, queued_id

pytestmark = pytest.mark.skipif(not INGESTD.exists(), reason="ingestd not built")

TRANSCRIPTS = TOP / "ingestd" / "test" / "data" / "persona"
HOST = "mx.test.example"
HELO = "client.example.net"
ADDR = "someone@example.org"

# The queued-as reply of each persona, queue id and Message-ID in shape.
QUEUED = {
    "postfix": r"250 2\.0\.0 Ok: queued as [0-9A-F]{10,11}",
    "exim": r"250 OK id=[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}",
    "sendmail": r"250 2\.0\.0 [0-9A-Za-x]{8}\d{6} Message accepted for delivery",
    "exchange": r"250 2\.6\.0 <[^<>@\s]+@[^<>\s]+> \[InternalId=\d{12}, "
                r"Hostname=[^\]\s]+\] Queued mail for delivery",
}

DATE = re.compile(r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} "
                  r"\d\d:\d\d:\d\d \+0000")


def transcript(name):
    """The transcript as {key: [lines]}, with our host and client filled in."""
    t = {}
    for line in (TRANSCRIPTS / f"{name}.txt").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, text = line.partition("\t")
        text = (text.replace("mail.example.com", HOST)
                .replace("203.0.113.9", "127.0.0.1"))
        t.setdefault(key, []).append(text)
    return t


def norm(text):
    """Dates vary per run: compare them as a placeholder."""
    return DATE.sub("<DATE>", text)


@pytest.fixture(scope="module",
                params=["postfix", "exim", "sendmail", "exchange"])
def persona(request, pg, tmp_path_factory):
    name = request.param
    t = transcript(name)
    # small limits so that the 452, 421 and timeout replies are reachable
    settings = {"persona": name, "max_recipients": 2, "command_timeout": 2,
                "max_sessions_per_ip": 3, "queue_id": "persona"}
    size = int(t["size"][0])
    if size:
        settings["max_message_size"] = size
    d = Ingestd(pg, tmp_path_factory.mktemp(f"persona_{name}"),
                f"persona_{name}", **settings)
    d.start()
    yield name, t, d
    assert d.stop() == 0


def test_banner_ehlo_and_replies(persona):
    name, t, d = persona
    c = Client(d.port)
    code, text = c.reply()
    assert code == 220
    assert norm(text) == norm(t["banner"][0])
    code, text = c.cmd(f"EHLO {HELO}")
    assert text.splitlines() == t["ehlo"]  # keywords and their order
    for cmd, key in [("NOOP", "noop"), (f"VRFY {ADDR}", "vrfy"),
                     (f"EXPN {ADDR}", "expn"), ("HELP", "help"),
                     ("XYZZY", "unknown"), (f"RCPT TO:<{ADDR}>", "needmail"),
                     (f"MAIL FROM:<{ADDR}>", "mail"), ("DATA", "novalidrcpt"),
                     (f"RCPT TO:<{ADDR}>", "rcpt"), ("RSET", "rset"),
                     ("QUIT", "quit")]:
        code, text = c.cmd(cmd)
        assert text.splitlines() == t[key], cmd
    assert c.closed()
    c.close()
    c = Client(d.port)
    c.reply()
    code, text = c.cmd(f"HELO {HELO}")
    assert text == t["helo"][0]
    c.close()


def test_client_values_are_sanitised(persona):
    """HELO names and unknown verbs enter replies bounded, without control
    bytes, one line each."""
    name, t, d = persona
    c = Client(d.port)
    c.reply()
    code, text = c.cmd("EHLO evil\x01\x1b[2Jname")
    assert code == 250 and "\x01" not in text and "\x1b" not in text
    if name not in ("exchange", "postfix"):  # they do not echo the name
        assert "evil??[2Jname" in text.splitlines()[0]
    code, text = c.cmd("X" * 3000)
    assert code == int(t["unknown"][0][:3])
    assert len(text.splitlines()) == 1 and len(text) < 200
    code, text = c.cmd("NOOP")
    assert text == t["noop"][0]  # the session is still in step
    c.close()


def test_queued_reply_shape_and_delivery(persona, db):
    name, t, d = persona
    assert re.fullmatch(QUEUED[name], t["queued"][0]), "transcript shape"
    c = Client(d.port)
    c.reply()
    c.cmd(f"EHLO {HELO}")
    assert c.cmd(f"MAIL FROM:<{ADDR}>")[0] == 250
    assert c.cmd(f"RCPT TO:<{ADDR}>")[0] == 250
    code, text = c.cmd("DATA")
    assert code == 354 and text == t["data"][0]
    code, text = c.cmd("Subject: persona\r\n\r\nhello\r\n.")
    assert code == 250
    assert re.fullmatch(QUEUED[name], text), text
    if name == "exchange":
        assert f"Hostname={HOST}]" in text
    c.cmd("QUIT")
    c.close()
    # the message still reaches PostgreSQL; the log maps qid to the row id
    d.wait_rows(db, 1, table="spamlab.message")
    m = re.search(r"queued .*id=([0-9a-f-]{36}) qid=(\S+)", d.logtext())
    assert m and m.group(2) in text


def test_default_persona_is_unchanged(pg, tmp_path):
    """persona = postfix is the default and keeps the daemon's replies."""
    d = Ingestd(pg, tmp_path / "postfix", "persona_postfix", persona="postfix")
    d.start()
    try:
        c = Client(d.port)
        assert c.reply() == (220, f"220 {HOST} ESMTP Postfix (Debian/GNU)")
        code, text = c.cmd(f"EHLO {HELO}")
        assert text.splitlines()[:3] == [f"250-{HOST}", "250-PIPELINING",
                                          "250-SIZE 26214400"]
        assert "250-AUTH PLAIN LOGIN" in text.splitlines()
        c.cmd(f"MAIL FROM:<{ADDR}>")
        c.cmd(f"RCPT TO:<{ADDR}>")
        c.cmd("DATA")
        code, text = c.cmd("Subject: x\r\n\r\nx\r\n.")
        assert code == 250 and queued_id(text), text
        assert text.startswith("250 2.0.0 Ok: queued as ")
        c.cmd("QUIT")
        c.close()
    finally:
        assert d.stop() == 0


def test_switched_off_feature_is_not_advertised(pg, tmp_path):
    """chunking = off drops CHUNKING from the persona's EHLO list."""
    want = [x for x in transcript("exim")["ehlo"] if x != "250-CHUNKING"]
    d = Ingestd(pg, tmp_path / "exim", "persona_exim_nochunk", persona="exim",
                chunking="off", max_message_size="50M")
    d.start()
    try:
        c = Client(d.port)
        c.reply()
        assert c.cmd(f"EHLO {HELO}")[1].splitlines() == want
        c.close()
    finally:
        assert d.stop() == 0


def test_unknown_persona_is_refused():
    out = subprocess.run([str(INGESTD), "--check-config", "--persona=qmail"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "persona" in out.stderr
    out = subprocess.run([str(INGESTD), "--check-config", "--persona=exim"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "persona = exim" in out.stdout
    # production defaults: delays on, the persona's own queue ids
    assert "persona_delay = on" in out.stdout
    assert "queue_id = persona" in out.stdout
    for bad in ("--persona_delay=11", "--persona_delay=fast",
                "--queue_id=uuid"):
        out = subprocess.run([str(INGESTD), "--check-config", bad],
                             capture_output=True, text=True)
        assert out.returncode == 2 and bad[2:].split("=")[0] in out.stderr


def expect(t, key, got):
    """got (a reply's text) is the transcript's reply key, in shape."""
    assert norm(got).splitlines() == [norm(x) for x in t[key]], key


def test_error_auth_and_tls_replies(persona):
    """Syntax and sequence errors, AUTH (334 prompts, 235, failures), the
    452 recipient limit, an over-long line, STARTTLS and the EHLO inside
    TLS: each the persona's text."""
    name, t, d = persona
    c = Client(d.port)
    c.reply()
    expect(t, "needhelo", c.cmd(f"MAIL FROM:<{ADDR}>")[1])
    expect(t, "syntax_helo", c.cmd("EHLO")[1])
    c.cmd(f"EHLO {HELO}")
    expect(t, "syntax_mail", c.cmd("MAIL FROM:<broken")[1])
    expect(t, "param_syntax", c.cmd(f"MAIL FROM:<{ADDR}> SIZE=abc")[1])
    expect(t, "param_unknown", c.cmd(f"MAIL FROM:<{ADDR}> FOO=1")[1])
    expect(t, "linetoolong", c.cmd("NOOP " + "y" * 5000)[1])
    expect(t, "authbadmech", c.cmd("AUTH CRAM-MD5")[1])
    expect(t, "authuser", c.cmd("AUTH LOGIN")[1])
    expect(t, "authaborted", c.cmd("*")[1])
    expect(t, "authuser", c.cmd("AUTH LOGIN")[1])
    expect(t, "authdecode", c.cmd("!!!!")[1])
    expect(t, "authprompt", c.cmd("AUTH PLAIN")[1])
    expect(t, "authok", c.cmd(base64.b64encode(b"\0u\0pw").decode())[1])
    expect(t, "authalready", c.cmd("AUTH PLAIN AHUAcHc=")[1])
    expect(t, "mail", c.cmd(f"MAIL FROM:<{ADDR}>")[1])
    expect(t, "nestedmail", c.cmd(f"MAIL FROM:<{ADDR}>")[1])
    expect(t, "novalidrcpt", c.cmd("DATA")[1])
    expect(t, "syntax_rcpt", c.cmd("RCPT TO:<>")[1])
    c.cmd(f"RCPT TO:<{ADDR}>")
    c.cmd(f"RCPT TO:<{ADDR}>")
    expect(t, "toomanyrcpt", c.cmd(f"RCPT TO:<{ADDR}>")[1])
    expect(t, "rset", c.cmd("RSET")[1])
    expect(t, "starttls", c.cmd("STARTTLS")[1])
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.sock = ctx.wrap_socket(c.sock)
    # inside TLS: no STARTTLS, and the persona's AUTH line for TLS
    assert c.cmd(f"EHLO {HELO}")[1].splitlines() == t["ehlo_tls"]
    expect(t, "tlsactive", c.cmd("STARTTLS")[1])
    c.cmd("QUIT")
    c.close()


def test_421_replies(persona):
    """Too many errors, a command timeout, too many sessions from one
    address: the persona's 421 each time, then the connection ends."""
    name, t, d = persona
    c = Client(d.port)
    c.reply()
    c.send(b"XYZZY\r\n" * 25)
    last = None
    try:
        while True:
            last = c.reply()[1]
    except ConnectionError:
        pass
    expect(t, "toomanyerrors", last)
    c.close()

    c = Client(d.port)
    c.reply()
    expect(t, "timeout", c.reply()[1])  # command_timeout = 2
    assert c.closed()
    c.close()

    idle = [Client(d.port) for _ in range(3)]  # max_sessions_per_ip = 3
    for x in idle:
        x.reply()
    c = Client(d.port)
    expect(t, "toomanyfromip", c.reply()[1])
    assert c.closed()
    for x in idle + [c]:
        x.close()


def banner_seconds(port):
    """Seconds from connect to the complete 220 line."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += s.recv(512)
    return time.monotonic() - start


def test_delays_are_timed_and_keep_the_order(pg, tmp_path):
    """persona_delay scales the persona's delays: the banner comes after
    at least the scaled minimum, the 250 after DATA after at least the
    queue-write minimum, pipelined commands are answered in order; off
    means no delay."""
    # Exchange: banner 50..300 ms, queue write 20..120 ms (persona.c)
    d = Ingestd(pg, tmp_path / "on", "persona_delay_on", persona="exchange",
                persona_delay="2")
    d.start()
    try:
        for _ in range(3):
            assert banner_seconds(d.port) >= 2 * 0.050
        c = Client(d.port)
        c.reply()
        c.cmd(f"EHLO {HELO}")
        # one pipelined group (RFC 2920): replies in order, one each
        c.send(f"RSET\r\nMAIL FROM:<{ADDR}>\r\nRCPT TO:<{ADDR}>\r\n"
               f"NOOP\r\nDATA\r\n")
        codes = [c.reply()[0] for _ in range(5)]
        assert codes == [250, 250, 250, 250, 354]
        c.send("Subject: x\r\n\r\nx\r\n.\r\n")
        start = time.monotonic()
        code, text = c.reply()
        assert code == 250 and time.monotonic() - start >= 2 * 0.020
        c.send("NOOP\r\nQUIT\r\n")
        assert [c.reply()[0], c.reply()[0]] == [250, 221]
        c.close()
    finally:
        assert d.stop() == 0
    d = Ingestd(pg, tmp_path / "off", "persona_delay_off", persona="exchange",
                persona_delay="off")
    d.start()
    try:
        # no timer at all: well under the persona's 50 ms minimum
        assert min(banner_seconds(d.port) for _ in range(5)) < 0.040
    finally:
        assert d.stop() == 0


def test_shutdown_reply(pg, tmp_path):
    """SIGTERM: an idle session gets the persona's 421 shutdown reply."""
    t = transcript("sendmail")
    d = Ingestd(pg, tmp_path / "sm", "persona_shutdown", persona="sendmail")
    d.start()
    c = Client(d.port)
    c.reply()
    c.cmd(f"EHLO {HELO}")
    assert d.stop() == 0
    expect(t, "shutdown", c.reply()[1])
    c.close()


def test_switched_off_auth_and_tls_and_bdat(pg, tmp_path):
    """auth = off and starttls = off: neither is advertised and both are
    refused in the persona's words; a BDAT chunk is acknowledged in them."""
    t = transcript("exchange")
    d = Ingestd(pg, tmp_path / "ex", "persona_exchange_off", persona="exchange",
                auth="off", starttls="off", queue_id="persona")
    d.start()
    try:
        c = Client(d.port)
        c.reply()
        ehlo = c.cmd(f"EHLO {HELO}")[1]
        for kw in ("AUTH", "STARTTLS", "X-ANONYMOUSTLS"):
            assert f"250-{kw}" not in ehlo, kw
        assert "250-CHUNKING" in ehlo
        expect(t, "authdisabled", c.cmd("AUTH LOGIN")[1])
        expect(t, "notimpl", c.cmd("STARTTLS")[1])
        c.cmd(f"MAIL FROM:<{ADDR}>")
        c.cmd(f"RCPT TO:<{ADDR}>")
        c.send(b"BDAT 4096\r\n" + b"Subject: chunk\r\n\r\n".ljust(4094, b"x")
               + b"\r\n")
        expect(t, "bdatok", c.reply()[1])
        code, text = c.cmd("BDAT 0 LAST")
        assert re.fullmatch(QUEUED["exchange"], text), text
        c.cmd("QUIT")
        c.close()
    finally:
        assert d.stop() == 0
