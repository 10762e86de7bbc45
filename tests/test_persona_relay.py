"""The Received header a persona adds to a relayed probe (issue 6).

A real ingestd with `persona = X` and relaying on delivers a probe to a
smarthost on 127.0.0.1 (aiosmtpd).  The delivered copy must start with the
header that MTA writes, with the queue id of the 250 reply, and our own
spamlab.parse_received_header() must read it back (a self-check of the
format); the copy stored in spamlab.message stays byte for byte what the
client sent.
"""
import re

import pytest

from ingestd_helpers import INGESTD, Client, Ingestd, wait_for
from test_relay import Sink, self_probe_relay, start_server

pytestmark = pytest.mark.skipif(not INGESTD.exists(), reason="ingestd not built")

HOST = "mx.test.example"
HELO = "bot.spam.test"

# persona: (the queue id in the 250 reply, the header's shape)
PERSONAS = {
    "postfix": (r"queued as ([0-9A-F]{10,11})\b",
                r"Received: from {helo} \(unknown \[127\.0\.0\.1\]\)\r\n"
                r"\tby {host} \(Postfix\) with ESMTP id {qid}\r\n"
                r"\tfor <box@probe\.test>; {date} \(UTC\)\r\n"),
    "exim": (r"250 OK id=(\S+)",
             r"Received: from \[127\.0\.0\.1\] \(helo={helo}\)\r\n"
             r"\tby {host} with esmtp \(Exim 4\.96\)\r\n"
             r"\t\(envelope-from <probe@spam\.test>\)\r\n"
             r"\tid {qid}\r\n"
             r"\tfor box@probe\.test; {date}\r\n"),
    "sendmail": (r"250 2\.0\.0 (\S+) Message accepted",
                 r"Received: from {helo} \(\[127\.0\.0\.1\]\)\r\n"
                 r"\tby {host} \(8\.17\.1\.9/8\.17\.1\.9\) with ESMTP id {qid}\r\n"
                 r"\tfor <box@probe\.test>; {date}\r\n"),
    "exchange": (r"InternalId=(\d+),",
                 r"Received: from {helo} \(127\.0\.0\.1\) by {host}\r\n"
                 r" \(127\.0\.0\.1\) with Microsoft SMTP Server\r\n"
                 r" id 15\.2\.1258\.28 via Frontend Transport; {date}\r\n"),
}
DATE = {"postfix": r"[A-Z][a-z]{2}, [ 1-3]\d [A-Z][a-z]{2} \d{4} [\d:]{8} \+0000",
        "exim": r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} [\d:]{8} \+0000"}


@pytest.mark.parametrize("name", sorted(PERSONAS))
def test_relayed_copy_has_the_personas_received_header(pg, tmp_path, name):
    sink = Sink()
    ctl, sport = start_server(sink)
    d = Ingestd(pg, tmp_path, f"persona_relay_{name}", persona=name,
                starttls="off", queue_id="persona", **self_probe_relay(sport))
    # a message whose bytes a careless copy would change: a leading dot,
    # a long line, no Date, a bare header block
    sent = (b"From: <probe@spam.test>\r\nTo: <box@probe.test>\r\n"
            b"Subject: relay check via trap.example.test\r\n\r\n"
            b"..dot-stuffed line\r\n" + b"x" * 900 + b"\r\nend\r\n")
    d.start()
    try:
        c = Client(d.port)
        c.reply()
        c.cmd(f"EHLO {HELO}")
        assert c.cmd("MAIL FROM:<probe@spam.test>")[0] == 250
        assert c.cmd("RCPT TO:<box@probe.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(sent.replace(b"\r\n..", b"\r\n...") + b".\r\n")
        code, text = c.reply()
        assert code == 250, text
        c.cmd("QUIT")
        c.close()
        qid = re.search(PERSONAS[name][0], text).group(1)

        assert wait_for(lambda: sink.messages), "nothing was relayed"
        delivered = sink.messages[0][2]
        if isinstance(delivered, str):
            delivered = delivered.encode()
        # the header, then the client's bytes unchanged
        m = re.match(rb"Received: .*?\r\n(?![ \t])", delivered, re.S)
        assert m, delivered[:300]
        header = m.group(0).decode()
        assert delivered[m.end():] == sent
        want = PERSONAS[name][1].format(
            helo=re.escape(HELO), host=re.escape(HOST), qid=re.escape(qid),
            date=DATE.get(name, r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} "
                                r"\d{4} [\d:]{8} \+0000"))
        assert re.fullmatch(want, header), header

        # our own parser reads it back; 127.0.0.1 makes the hop "local",
        # any other address an ordinary parsed hop
        value = header.split(":", 1)[1].strip()
        q = ("SELECT status, from_helo, host(from_ip), by_host, queue_id,"
             " date IS NOT NULL FROM spamlab.parse_received_header(%s)")
        with pg.connect() as conn:
            status, helo, ip, by, parsed_qid, dated = conn.execute(
                q, (value,)).fetchone()
            assert (status, helo, ip, by, dated) == (
                "local", HELO, "127.0.0.1", HOST, True)
            # Exchange writes no queue id in Received (the InternalId is
            # only in its 250 reply)
            assert parsed_qid == (None if name == "exchange" else qid)
            other = conn.execute(q, (value.replace("127.0.0.1", "192.0.2.7"),)
                                 ).fetchone()
            assert other[:3] == ("ok", HELO, "192.0.2.7")

            # the stored message is what the client sent, byte for byte
            d.wait_rows(conn, 1)
            raw = conn.execute(
                "SELECT raw FROM spamlab.message WHERE sensor = %s",
                (d.sensor,)).fetchone()[0]
            assert bytes(raw) == sent
    finally:
        assert d.stop() == 0
        ctl.stop()
