"""ingestd with `persona = exim|sendmail|exchange` answers like that MTA:
banner, EHLO keywords in its order, the reply texts and the queued-as reply
with its queue-id shape, checked against the transcripts the persona unit
test uses (ingestd/test/data/persona/*.txt).  The default persona (postfix)
keeps the daemon's own replies, queue id = message id."""
import re
import subprocess

import pytest

from ingestd_helpers import INGESTD, TOP, Client, Ingestd, queued_id

pytestmark = pytest.mark.skipif(not INGESTD.exists(), reason="ingestd not built")

TRANSCRIPTS = TOP / "ingestd" / "test" / "data" / "persona"
HOST = "mx.test.example"
HELO = "client.example.net"
ADDR = "someone@example.org"

# The queued-as reply of each persona, queue id and Message-ID in shape.
QUEUED = {
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


@pytest.fixture(scope="module", params=["exim", "sendmail", "exchange"])
def persona(request, pg, tmp_path_factory):
    name = request.param
    t = transcript(name)
    settings = {"persona": name}
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
                     (f"MAIL FROM:<{ADDR}>", "mail"), ("DATA", "needrcpt"),
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
    if name != "exchange":  # Exchange does not echo the HELO name
        assert "evil??[2Jname" in text.splitlines()[0]
    code, text = c.cmd("X" * 3000)
    assert code == 500 and len(text.splitlines()) == 1 and len(text) < 200
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
