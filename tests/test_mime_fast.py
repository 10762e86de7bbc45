"""extract_urls(raw) reads single-part text messages without gmime
(spamlab.mime_fast_path, on by default); the rows must be exactly those of
the gmime walk, for every shared message and for hand-made variants that
exercise each transfer encoding, charset and header shape the fast reader
accepts or declines.
"""
import base64
import quopri

from conftest import shared_path

Q = "SELECT * FROM spamlab.extract_urls(%(m)s)"


def corpus():
    root = shared_path("mail")
    return [p for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(("LICENSE", "NOTICE"))]


def rows(db, raw, fast):
    db.execute("SET spamlab.mime_fast_path = " + ("on" if fast else "off"))
    return db.execute(Q, {"m": raw}).fetchall()


def differences(db, messages):
    bad = []
    for name, raw in messages:
        if rows(db, raw, True) != rows(db, raw, False):
            bad.append(name)
    return bad


def test_fast_path_rows_equal_gmime_rows_for_every_shared_message(db):
    files = corpus()
    assert len(files) > 100
    assert differences(db, [(f.name, f.read_bytes()) for f in files]) == []


HTML = (b'<p>see <a href="http://example.com/a?b=1">here</a> and '
        b'http://caf\xc3\xa9.example.org/x</p>\n')
TEXT = b"Visit http://example.com/p?q=\xe9t\xe9 or www.example.net today\n"


def variants():
    out = []
    for eol in (b"\n", b"\r\n"):
        for ct in (None, b"text/plain", b"TEXT/PLAIN; charset=iso-8859-1",
                   b'text/plain; charset="utf-8"', b"text/html;",
                   b"text/html; charset=windows-1252; format=flowed",
                   b"text/plain (comment)", b"text/plain; charset*=utf-8''x",
                   b"multipart/mixed; boundary=x", b"text"):
            for cte, body in ((None, TEXT), (b"8bit", TEXT),
                              (b"base64", base64.encodebytes(TEXT)),
                              (b"base64", b"aHR0cDovL2V4YW1wbGUuY29t\n"),
                              (b"base64", b"aHR0cDovL2V4YW1wbGUuY29tLw=\n"),
                              (b"base64", b"aHR0cDov L2V4!YW1wbGUu\n"),
                              (b"Quoted-Printable", quopri.encodestring(TEXT)),
                              (b"quoted-printable",
                               b"http://exa=\nmple.com/=3D =zz\n"),
                              (b"x-uuencode", TEXT)):
                h = [b"From: a@example.com", b"Subject: t"]
                if ct is not None:
                    h.append(b"Content-Type: " + ct)
                if cte is not None:
                    h.append(b"Content-Transfer-Encoding: " + cte)
                raw = eol.join(h) + eol + eol + body.replace(b"\n", eol)
                out.append((raw[:80], raw))
    out.append(("mbox", b"From x@y Mon\nContent-Type: text/html\n\n" + HTML))
    out.append(("folded", b"Content-Type: text/html;\n charset=utf-8\n\n" + HTML))
    out.append(("twice", b"Content-Type: text/html\nContent-Type: text/plain"
                b"\n\n" + HTML))
    out.append(("no body", b"Content-Type: text/html\n"))
    out.append(("odd line", b"Subject: x\nnot a header\n\n" + TEXT))
    out.append(("space colon", b"Content-Type : text/html\n\n" + HTML))
    return out


def test_fast_path_rows_equal_gmime_rows_for_edge_cases(db):
    assert differences(db, variants()) == []


def test_fast_path_decodes_base64_and_quoted_printable(db):
    for cte, body in ((b"base64", base64.encodebytes(TEXT)),
                      (b"quoted-printable", quopri.encodestring(TEXT))):
        raw = (b"Content-Type: text/plain; charset=iso-8859-1\n"
               b"Content-Transfer-Encoding: " + cte + b"\n\n" + body)
        got = [(r[3], r[6]) for r in rows(db, raw, True)]
        assert got == [("example.com", 1), ("www.example.net", 1)], cte
