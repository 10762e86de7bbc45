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


def part(headers, body):
    return b"\n".join(headers) + b"\n\n" + body


def multipart(boundary, parts, pre=b"", post=b"", close=True, ctype=None):
    ct = ctype or b'multipart/alternative; boundary="' + boundary + b'"'
    out = b"From: a@example.com\nContent-Type: " + ct + b"\n\n" + pre
    for p in parts:
        out += b"\n--" + boundary + b"\n" + p
    if close:
        out += b"\n--" + boundary + b"--\n"
    return out + post


PLAIN = part([b"Content-Type: text/plain; charset=iso-8859-1",
              b"Content-Transfer-Encoding: quoted-printable"],
             quopri.encodestring(TEXT) + b"soft=\nbreak http://qp.exa=\nmple/x")
HTMLB64 = part([b"Content-Type: text/html; charset=utf-8",
                b"Content-Transfer-Encoding: base64"],
               base64.encodebytes(HTML))
IMAGE = part([b"Content-Type: image/gif; name=\"x.gif\"",
              b"Content-Transfer-Encoding: base64"],
             base64.encodebytes(b"GIF89a http://not.a.url/" * 20))


def multipart_variants():
    """Multipart shapes the fast reader takes or must decline, each of
    which gmime reads in its own way: the rows must not change."""
    b = b"b1=_x.y"
    long_line = b"word " * 2000
    inner = multipart(b"in", [PLAIN, HTMLB64])
    inner_part = (b"Content-Type: multipart/alternative; boundary=in\n\n"
                  + inner.split(b"\n\n", 1)[1])
    cases = {
        "alternative": multipart(b, [PLAIN, HTMLB64]),
        "mixed with image": multipart(b, [PLAIN, IMAGE, HTMLB64],
                                      ctype=b"multipart/mixed; boundary=" + b),
        "preamble epilogue": multipart(b, [PLAIN], pre=b"This is MIME.\n",
                                       post=b"bye http://epi.example/\n"),
        "no final boundary": multipart(b, [PLAIN, HTMLB64], close=False),
        "eof after boundary": multipart(b, [PLAIN], close=False) + b"\n--" + b,
        "final without newline": multipart(b, [PLAIN])[:-1],
        "nested": multipart(b"out", [inner_part, IMAGE],
                            ctype=b"multipart/mixed; boundary=out"),
        "outer ends inner": multipart(
            b"out", [b"Content-Type: multipart/alternative; boundary=in\n\n"
                     b"--in\n" + PLAIN, HTMLB64],
            ctype=b"multipart/mixed; boundary=out"),
        "same boundary nested": multipart(
            b"s", [b"Content-Type: multipart/alternative; boundary=s\n\n"
                   b"--s\n" + PLAIN + b"\n--s--\n", HTMLB64],
            ctype=b"multipart/mixed; boundary=s"),
        "boundary-like lines": multipart(b, [part(
            [b"Content-Type: text/plain"],
            b"--" + b + b"x http://a.example/\n--" + b + b"--x\n-- " + b
            + b"\n---" + b + b"\n--" + b + b" \t\nafter")]),
        "boundary with blanks": multipart(b, [PLAIN]).replace(
            b"\n--" + b + b"\n", b"\n--" + b + b"  \n"),
        "long line": multipart(b, [part([b"Content-Type: text/plain"],
                                         long_line + b"http://long.example/")]),
        "long line with boundary": multipart(b, [part(
            [b"Content-Type: text/plain"],
            long_line + b"--" + b + b"\nhttp://after.example/")]),
        "boundary in part header": multipart(b, [part(
            [b"Content-Type: text/plain", b"X-Note: see --" + b],
            b"http://h.example/")]),
        "part without headers": multipart(b, [b"\nhttp://bare.example/"]),
        "empty part": multipart(b, [part([b"Content-Type: text/html"], b""),
                                    PLAIN]),
        "blank before colon": multipart(b, [part(
            [b"Content-Type  : text/html"], HTML)]),
        "trailing semicolon": multipart(b, [PLAIN], ctype=(
            b'multipart/alternative; boundary="' + b + b'";')),
        "unquoted boundary": multipart(b"----=_NextPart_000_0001", [PLAIN],
                                       ctype=b"multipart/alternative;\n\t"
                                       b"boundary=----=_NextPart_000_0001"),
        "unknown charset": multipart(b, [part(
            [b"Content-Type: text/plain; charset=x-no-such-charset"],
            b"http://caf\xe9.example/")]),
        "base64 with blanks": multipart(b, [part(
            [b"Content-Type: text/plain",
             b"Content-Transfer-Encoding: base64"],
            b"aHR0cDov L2EuZXhhbXBsZS8=")]),
        "message part": multipart(b, [part(
            [b"Content-Type: message/rfc822"],
            b"Subject: inner\n\nhttp://inner.example/"), PLAIN]),
        "message part with multipart": multipart(b, [part(
            [b"Content-Type: MESSAGE/RFC822"],
            b"Subject: inner\nContent-Type: multipart/alternative; "
            b"boundary=in2\n\n--in2\n" + PLAIN + b"\n--in2\n" + HTMLB64
            + b"\n--in2--\n"), PLAIN]),
        "encoded message part": multipart(b, [part(
            [b"Content-Type: message/rfc822",
             b"Content-Transfer-Encoding: base64"],
            base64.encodebytes(b"Subject: x\n\nhttp://hidden.example/")),
            PLAIN]),
        "delivery status": multipart(b, [PLAIN, part(
            [b"Content-Type: message/delivery-status"],
            b"Reporting-MTA: dns; http://mta.example/\n")]),
        "message part at top": (b"Content-Type: message/rfc822\n\n"
                                b"Subject: inner\n\n" + TEXT),
        "digest": multipart(b, [b"\nSubject: d\n\nhttp://d.example/"],
                            ctype=b"multipart/digest; boundary=" + b),
        "no boundary parameter": multipart(b, [PLAIN],
                                           ctype=b"multipart/mixed"),
        "ends before parts": multipart(b, [], pre=b"--" + b + b"--\n"),
        "comment in type": multipart(b, [PLAIN], ctype=(
            b"multipart/alternative (x); boundary=" + b)),
        "blank in boundary": multipart(b"=_mixed 005C_=", [PLAIN, HTMLB64]),
        "tab in boundary": multipart(b"=_mixed\t005C_=", [PLAIN]),
        "boundary never found": multipart(b, [PLAIN]).replace(
            b"boundary=\"" + b, b"boundary=\"zz" + b),
        "boundary in prologue line": multipart(b, [PLAIN], pre=(
            b"x" * 200 + b" --" + b + b"\n")),
    }
    for ct in (b"text plain", b"BINARY;name=x", b"text/", b"text/ plain",
               b"text / plain", b"text/;charset=utf-8", b"text/(c)plain",
               b"text(c)/plain", b"", b"text\xe9/plain", b"text/plain\xe9",
               b"message/rfc822\xfbx", b"application/pdf\xe9"):
        # the body reads as a message too, should the type be taken for one
        cases["content type " + repr(ct)] = multipart(b, [part(
            [b"Content-Type: " + ct], b"Subject: s\n\n" + TEXT), PLAIN])
    out = []
    for name, raw in cases.items():
        out.append((name, raw))
        crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        out.append((name + " crlf", crlf))
        # LF content with CRLF boundary lines: gmime drops a content byte
        out.append((name + " crlf boundaries", raw.replace(
            b"\n--", b"\r\n--").replace(b"\r\n--", b"\n--", 1)))
    return out


def test_fast_path_rows_equal_gmime_rows_for_multipart(db):
    assert differences(db, multipart_variants()) == []


def test_fast_path_reads_nested_multipart_text_parts(db):
    raw = dict(multipart_variants())["nested"]
    got = [(r[3], r[5], r[6]) for r in rows(db, raw, True)]
    # part 1 mixed, 2 alternative, 3 text/plain, 4 text/html, 5 image/gif
    assert ("qp.example", "text", 3) in got
    assert ("example.com", "html_href", 4) in got
    assert not [g for g in got if g[2] == 5]


def test_fast_path_charset_aliases_in_a_fresh_backend(pg):
    # gmime's charset aliases (ks_c_5601-1987 is EUC-KR) must hold even when
    # the first message a backend reads never goes through gmime
    raw = (b"Content-Type: text/plain; charset=ks_c_5601-1987\n\n"
           b"http://example.com/" + "경로".encode("euc-kr") + b" end\n")
    got = {}
    for fast in (True, False):
        with pg.connect() as c:
            got[fast] = rows(c, raw, fast)
    assert got[True] == got[False]
    assert got[True][0][0] == "http://example.com/%EA%B2%BD%EB%A1%9C"
