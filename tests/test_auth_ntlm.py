"""AUTH NTLM and GSSAPI on the exchange persona, which advertises them.

A real client (curl) logs in with NTLM and sends; the account is recorded
as DOMAIN\\user and, in place of the password the client never sends, its
response in hashcat's NetNTLMv2 form: recomputing it from the password
proves it is crackable offline.  The CHALLENGE names our host the way a
Windows server does, and nmap's smtp-ntlm-info, the script scanners
fingerprint Exchange with, reads it so.  GSSAPI
tickets are refused as Exchange refuses them without Kerberos, and broken
NTLM messages get the persona's 501/535 with the session going on."""
import base64
import hashlib
import hmac
import re
import shutil
import struct
import subprocess
import time

import pytest

from ingestd_helpers import INGESTD, Client, Ingestd, wait_for

pytestmark = pytest.mark.skipif(not INGESTD.exists(), reason="ingestd not built")

HOST = "mx.test.example"  # the helpers' hostname setting
UNICODE, OEM, REQUEST_TARGET, NTLM, ESS = 1, 2, 4, 0x200, 0x80000


@pytest.fixture(scope="module")
def exchange(pg, tmp_path_factory):
    d = Ingestd(pg, tmp_path_factory.mktemp("ntlm"), "ntlm_exchange",
                persona="exchange")
    d.start()
    yield d
    assert d.stop() == 0


def md4(data):
    """MD4 through OpenSSL's legacy provider (Python's hashlib lacks it)."""
    out = subprocess.run(
        ["openssl", "dgst", "-md4", "-binary", "-provider", "legacy",
         "-provider", "default"], input=data, capture_output=True, check=True)
    return out.stdout


def nt_proof(password, user, domain, challenge, blob):
    """NTProofStr of NTLMv2 ([MS-NLMP] 3.3.2) from the password."""
    key = hmac.new(md4(password.encode("utf-16-le")),
                   (user.upper() + domain).encode("utf-16-le"), "md5").digest()
    return hmac.new(key, challenge + blob, "md5").digest()


def negotiate(flags):
    return b"NTLMSSP\0" + struct.pack("<II", 1, flags) + bytes(16)


def authenticate(flags, lm, nt, domain, user, workstation):
    enc = (lambda s: s.encode("utf-16-le")) if flags & UNICODE else \
        (lambda s: s.encode("latin-1"))
    fields = [lm, nt, enc(domain), enc(user), enc(workstation), b""]
    head, payload, at = b"", b"", 72
    for f in fields:
        head += struct.pack("<HHI", len(f), len(f), at + len(payload))
        payload += f
    return b"NTLMSSP\0" + struct.pack("<I", 3) + head + \
        struct.pack("<I", flags) + bytes(8) + payload


def b64(data):
    return base64.b64encode(data).decode()


def parse_challenge(text):
    """(flags, challenge, target name, {av id: value}) of a 334 CHALLENGE."""
    code, _, blob = text.partition(" ")
    assert code == "334"
    m = base64.b64decode(blob)
    assert m[:8] == b"NTLMSSP\0" and struct.unpack("<I", m[8:12])[0] == 2
    tlen, _, toff = struct.unpack("<HHI", m[12:20])
    flags = struct.unpack("<I", m[20:24])[0]
    name = m[toff:toff + tlen].decode("utf-16-le" if flags & UNICODE
                                      else "latin-1")
    ilen, _, ioff = struct.unpack("<HHI", m[40:48])
    info, at = {}, ioff
    while at < ioff + ilen:
        av, n = struct.unpack("<HH", m[at:at + 4])
        if av == 0:
            break
        v = m[at + 4:at + 4 + n]
        info[av] = v if av == 7 else v.decode("utf-16-le")
        at += 4 + n
    return flags, m[24:32], name, info


def auth_rows(db, d, helo, n, workstation=False):
    """The smtp_auth rows of the sensor's sessions with this HELO, in order,
    once there are n (with the workstation last if asked)."""
    def rows():
        r = db.execute(
            "SELECT a.mechanism, a.username, a.password, a.reply_code"
            + (", a.workstation" if workstation else "") +
            " FROM spamlab.smtp_auth a JOIN spamlab.smtp_session s"
            " ON s.id = a.session_id WHERE s.sensor = %s AND s.helo = %s"
            " ORDER BY a.at, a.n", (d.sensor, helo)).fetchall()
        return r if len(r) >= n else None
    return wait_for(rows)


def test_curl_logs_in_with_ntlm_and_the_response_is_crackable(exchange, db,
                                                               tmp_path):
    if not shutil.which("curl"):
        pytest.skip("curl missing")
    mail = tmp_path / "m.eml"
    mail.write_bytes(b"Subject: ntlm\r\n\r\nhello\r\n")
    out = subprocess.run(
        ["curl", "-sS", "--url", f"smtp://127.0.0.1:{exchange.port}/curl.example",
         "--mail-from", "s@spam.example", "--mail-rcpt", "v@victim.example",
         "--login-options", "AUTH=NTLM", "-u", "CORP\\alice:Sommer2026!",
         "-T", str(mail), "--max-time", "20"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    [(mech, user, line, code)] = auth_rows(db, exchange, "curl.example", 1)
    assert (mech, user, code) == ("NTLM", "CORP\\alice", 235)
    # user::domain:challenge:NTProofStr:blob (hashcat mode 5600)
    u, empty, dom, chal, proof, blob = line.split(":")
    assert (u, empty, dom) == ("alice", "", "CORP")
    assert bytes.fromhex(proof) == nt_proof(
        "Sommer2026!", "alice", "CORP", bytes.fromhex(chal),
        bytes.fromhex(blob))
    assert bytes.fromhex(proof) != nt_proof(
        "sommer2026!", "alice", "CORP", bytes.fromhex(chal),
        bytes.fromhex(blob))
    # the message carries the account it was sent with
    exchange.wait_rows(db, 1)
    got = db.execute(
        "SELECT m.auth_user, a.password FROM spamlab.message m"
        " JOIN spamlab.message_auth a ON a.message_id = m.id"
        " WHERE m.sensor = %s", (exchange.sensor,)).fetchone()
    assert got == ("CORP\\alice", line)


def test_challenge_names_the_host_like_windows(exchange, db):
    c = Client(exchange.port)
    c.reply()
    ehlo = c.cmd("EHLO bot.example")[1]
    assert "250-AUTH GSSAPI NTLM" in ehlo
    assert c.cmd("AUTH NTLM") == (334, "334 NTLM supported")
    code, text = c.cmd(b64(negotiate(UNICODE | OEM | REQUEST_TARGET | NTLM |
                                      ESS)))
    flags, chal, target, info = parse_challenge(text)
    assert flags & UNICODE and not flags & OEM and flags & ESS
    assert target == "TEST"
    assert info[1] == "MX" and info[2] == "TEST"
    assert info[3] == HOST and info[4] == "test.example"
    # MsvAvTimestamp: now, as a FILETIME
    ft = struct.unpack("<Q", info[7])[0]
    assert abs(ft / 1e7 - 11644473600 - time.time()) < 300
    # a bot's own AUTHENTICATE (NTLMv2, as Hydra or a Python bot sends it)
    blob = b"\1\1" + bytes(6) + info[7] + b"\xaa" * 8 + bytes(4) + b"\0" * 4
    proof = nt_proof("Winter1", "bob", "WORKGROUP", chal, blob)
    msg = authenticate(flags, bytes(24), proof + blob, "WORKGROUP", "bob",
                       "KALI")
    assert c.cmd(b64(msg)) == (235, "235 2.7.0 Authentication successful")
    assert c.cmd("AUTH NTLM")[1] == "503 5.5.2 Already authenticated"
    c.cmd("QUIT")
    c.close()

    # an old client: OEM names, NTLMv1 (hashcat mode 5500)
    c = Client(exchange.port)
    c.reply()
    c.cmd("EHLO old.example")
    code, text = c.cmd("AUTH NTLM " + b64(negotiate(OEM | NTLM)))
    flags, chal, target, _ = parse_challenge(text)
    assert flags & OEM and not flags & UNICODE and target == "TEST"
    lm, nt = bytes(range(24)), bytes(range(100, 124))
    assert c.cmd(b64(authenticate(flags, lm, nt, "", "Andr\xe9",
                                  "WIN-7")))[0] == 235
    c.cmd("QUIT")
    c.close()

    [(m1, u1, l1, c1, w1)] = auth_rows(db, exchange, "bot.example", 1, True)
    [(m2, u2, l2, c2, w2)] = auth_rows(db, exchange, "old.example", 1, True)
    # the workstation, a bot's fingerprint, is kept with the account
    assert (w1, w2) == ("KALI", "WIN-7")
    assert (m1, u1, c1) == ("NTLM", "WORKGROUP\\bob", 235)
    assert l1.split(":")[:3] == ["bob", "", "WORKGROUP"]
    assert bytes.fromhex(l1.split(":")[4]) == proof
    assert (m2, u2, c2) == ("NTLM", "Andr\xe9", 235)
    assert l2 == f"Andr\xe9:::{lm.hex()}:{nt.hex()}:{chal.hex()}"
    # and logged
    assert wait_for(lambda: 'workstation="KALI"' in exchange.logtext())
    assert 'workstation="WIN-7"' in exchange.logtext()


def test_broken_ntlm_and_gssapi_get_the_persona_replies(exchange, db):
    c = Client(exchange.port)
    c.reply()
    c.cmd("EHLO broken.example")
    bad = "535 5.7.3 Authentication unsuccessful"
    assert c.cmd("AUTH NTLM !!!!")[0] == 501
    assert c.cmd("AUTH NTLM " + b64(b"hello, not NTLM"))[1] == bad
    assert c.cmd("AUTH NTLM")[0] == 334
    assert c.cmd("*")[1] == "501 5.7.0 Authentication aborted"
    # an AUTHENTICATE whose user name points past its end
    c.cmd("AUTH NTLM " + b64(negotiate(UNICODE | NTLM)))
    msg = bytearray(authenticate(UNICODE, b"", bytes(40), "D", "u", "w"))
    msg[36 + 4:36 + 8] = struct.pack("<I", 0xfffffff0)
    assert c.cmd(b64(bytes(msg)))[1] == bad
    # GSSAPI: a ticket we cannot take, with or without an initial response
    assert c.cmd("AUTH GSSAPI") == (334, "334 ")
    assert c.cmd(b64(b"\x60\x82\x01\x00 a Kerberos AP-REQ"))[1] == bad
    assert c.cmd("AUTH GSSAPI " + b64(b"\x60\x01\x00"))[1] == bad
    # a mechanism the persona does not list
    assert c.cmd("AUTH CRAM-MD5")[0] == 504
    # the session goes on
    assert c.cmd("MAIL FROM:<s@spam.example>")[0] == 250
    c.cmd("QUIT")
    c.close()
    rows = auth_rows(db, exchange, "broken.example", 7)
    assert rows == [("NTLM", None, None, 501), ("NTLM", None, None, 535),
                    ("NTLM", None, None, 501), ("NTLM", None, None, 535),
                    ("GSSAPI", None, None, 535), ("GSSAPI", None, None, 535),
                    ("CRAM-MD5", None, None, 535)]


def test_nmap_reads_the_host_names_from_the_challenge(exchange):
    """nmap's smtp-ntlm-info, the scanner script that fingerprints Exchange
    through AUTH NTLM, reads our CHALLENGE as a Windows server's."""
    if not shutil.which("nmap"):
        pytest.skip("nmap missing (make deps installs it)")
    # -sV names the service smtp (the script runs only on SMTP ports)
    out = subprocess.run(
        ["nmap", "-Pn", "-n", "-sT", "-sV", "--version-intensity", "0",
         "-p", str(exchange.port), "--script", "smtp-ntlm-info",
         "127.0.0.1"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = dict(re.findall(r"\|_?\s+(\w+): (\S+)", out.stdout))
    assert got.get("NetBIOS_Domain_Name") == "TEST", out.stdout
    assert got["NetBIOS_Computer_Name"] == "MX"
    assert got["DNS_Domain_Name"] == "test.example"
    assert got["DNS_Computer_Name"] == HOST
    assert got["Product_Version"] == "10.0.17763"
