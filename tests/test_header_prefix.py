"""Header functions read only the header block of a stored message.

parse_received(), origin_ip(), mail_date(), header(), headers(), subject(),
the message-id functions and addresses() fetch a prefix of a toasted
message instead of the whole value (extension/src/msgarg.c); for lz4 the
prefix is decoded from a bounded part of the compressed bytes.  Whatever
way PostgreSQL stored a message, each function must answer exactly as it
does for the same bytes in memory, and the lz4 shortcut must never need
its fallback on sound data.
"""
import base64
import random

import pytest

from conftest import shared_path

STORAGE = {
    "lz4 out of line": "EXTENDED", "pglz out of line": "EXTENDED",
    "uncompressed out of line": "EXTERNAL", "lz4 inline": "MAIN",
}

# each expression over m.raw; compared with the same over a plain copy
FUNCS = {
    "parse_received": "(SELECT array_agg(h ORDER BY h.hop)"
                      " FROM spamlab.parse_received({r}) h)",
    "origin_ip": "spamlab.origin_ip({r})",
    "mail_date": "spamlab.mail_date({r})",
    "headers": "(SELECT array_agg(h ORDER BY h.n) FROM spamlab.headers({r}) h)",
    "header": "spamlab.header({r}, 'X-Last')",
    "subject": "spamlab.subject({r})",
    "message_id": "spamlab.message_id({r})",
    "in_reply_to": "spamlab.in_reply_to({r})",
    "reference_ids": "spamlab.reference_ids({r})",
    "addresses": "(SELECT array_agg(a) FROM spamlab.addresses({r}, 'to') a)",
}

RCVD = (b"Received: from mx%d.example.net (mx%d.example.net [198.51.100.%d])\n"
        b"\tby relay.example.org (Postfix) with ESMTPS id 4Q%05dX\n"
        b"\tfor <user@example.org>; Tue, 3 Nov 2009 10:%02d:00 +0000\n")


def rcvd(n):
    return b"".join(RCVD % (i, i, i % 250, i, i % 60) for i in range(n))


def tail(nl=b"\n"):
    return (b"Subject: =?utf-8?q?caf=C3=A9?=\nTo: a@example.org, B <b@example.net>"
            b"\nMessage-ID: <x1@example.org>\nIn-Reply-To: <y@example.org>\n"
            b"References: <r1@example.org> <r2@example.org>\n"
            b"Date: Tue, 3 Nov 2009 10:00:00 +0000\nX-Last: end\n").replace(b"\n", nl)


def noise(rng, n):
    """Header lines lz4 cannot compress: folded base64 of random bytes."""
    b64 = base64.b64encode(rng.randbytes(n * 3 // 4))
    return b"X-Noise: " + b"\n\t".join(b64[i:i + 76] for i in range(0, len(b64), 76)) + b"\n"


def body(n):
    return b"Hello, this is the body of a test message.\n" * (n // 44 + 1)


def messages():
    rng = random.Random(7)
    out = {
        "small header, big body": rcvd(2) + tail() + b"\n" + body(300_000),
        "no body": rcvd(3) + tail(),
        "headers only, 100 kB": rcvd(700) + tail(),
        "incompressible header": noise(rng, 12_000) + rcvd(3) + tail() + b"\n" + body(400_000),
        "incompressible header, 70 kB": noise(rng, 70_000) + rcvd(2) + tail() + b"\n" + body(400_000),
        "crlf": (rcvd(5) + tail()).replace(b"\n", b"\r\n") + b"\r\n" + body(200_000).replace(b"\n", b"\r\n"),
        "body is one long line": rcvd(4) + tail() + b"\n" + b"QUJD" * 60_000 + b"\n",
        "body without blank line": rcvd(4) + tail() + b"not a header line\n" + body(100_000),
    }
    # header blocks ending just before, at and after the 4, 16 and 64 kB
    # prefixes, each padded to the byte with an X-Pad field
    for size in (4096, 16384, 65536):
        for d in (-2, -1, 0, 1, 2):
            head = rcvd(size // 190 - 2) + tail()
            pad = size + d - len(head) - len(b"X-Pad: \n") - 1
            msg = head + b"X-Pad: " + b"p" * pad + b"\n\n" + body(200_000)
            assert msg.index(b"\n\n") + 2 == size + d
            out[f"header block of {size + d} bytes"] = msg
    return out


def compare(db, storage, compression, msgs):
    db.execute("DROP TABLE IF EXISTS prefix_t")
    db.execute(f"CREATE TABLE prefix_t (id int, name text,"
               f" raw bytea COMPRESSION {compression})")
    db.execute(f"ALTER TABLE prefix_t ALTER raw SET STORAGE {storage}")
    with db.cursor().copy("COPY prefix_t FROM STDIN") as cp:
        for i, (name, raw) in enumerate(msgs):
            cp.write_row((i, name, raw))
    notices = []
    db.add_notice_handler(lambda d: notices.append(d.message_primary))
    db.execute("SET client_min_messages = debug1")
    cols = ", ".join(
        f"{e.format(r='m.raw')} IS NOT DISTINCT FROM {e.format(r='p.raw')}"
        for e in FUNCS.values())
    rows = db.execute(
        f"SELECT m.name, {cols} FROM prefix_t m,"
        f" LATERAL (SELECT m.raw || ''::bytea AS raw) p ORDER BY m.id").fetchall()
    db.execute("RESET client_min_messages")
    bad = [(r[0], f) for r in rows for f, same in zip(FUNCS, r[1:]) if not same]
    assert bad == []
    assert [n for n in notices if "fell back" in n] == []
    return db.execute("SELECT count(*) FILTER (WHERE pg_column_compression(raw)"
                      " IS NOT NULL), count(*) FILTER (WHERE pg_column_size(raw)"
                      " < 2100 AND octet_length(raw) > 8000) FROM prefix_t").fetchone()


@pytest.mark.parametrize("case", sorted(STORAGE))
def test_stored_message_reads_like_plain_bytes(db, case):
    compression = "pglz" if "pglz" in case else "lz4"
    msgs = sorted(messages().items())
    compressed, _ = compare(db, STORAGE[case], compression, msgs)
    if "uncompressed" in case:
        assert compressed == 0
    elif compression == "lz4":
        assert compressed == len(msgs) - 1  # "no body" is too short
    else:
        # pglz gives up on a value whose first kilobyte does not shrink
        assert compressed >= len(msgs) - 3


def test_shared_corpus_reads_like_plain_bytes(db):
    root = shared_path("mail")
    msgs = [(str(p.relative_to(root)), p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()]
    compressed, _ = compare(db, "EXTENDED", "lz4", msgs)
    assert compressed > 50
