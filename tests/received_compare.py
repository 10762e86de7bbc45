"""Compare spamlab.parse_received_header with SpamAssassin's Received parser.

Used by tests/test_received_sa.py; also runnable by hand:
  tests/pgtmp run -- /usr/bin/python3 tests/received_compare.py [FILES...]
"""
import ipaddress
import json
import os
import pathlib
import re
import subprocess
import sys

TOP = pathlib.Path(__file__).resolve().parent.parent
SA_SCRIPT = TOP / "tests" / "sa_received.pl"
FIELDS = {"ip": "from_ip", "rdns": "from_rdns", "helo": "from_helo",
          "by": "by_host"}
# SpamAssassin replaces these characters by '!' in what it reports
SA_STRIP = re.compile(r"[\s\x00#\[\]()<>|]")


_cache = {}


def sa_relays(files):
    """SpamAssassin's parse of every Received header of files (cached: the
    Perl run is the slow part)."""
    key = tuple(map(str, files))
    if key not in _cache:
        out = subprocess.run(["perl", str(SA_SCRIPT), *key],
                             check=True, capture_output=True).stdout
        recs = []
        for line in out.decode("latin-1").splitlines():
            rec = json.loads(line)
            rec["line"] = to_bytes(rec["line"])
            recs.append(rec)
        _cache[key] = recs
    return list(_cache[key])


def to_bytes(s):
    """Perl's byte strings come as Latin-1 code points, character strings
    (above U+00FF somewhere) as themselves."""
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def norm_ip(s):
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return s


def compare(conn, files, allow=()):
    """Yield (record, field, sa_value, spamlab_value) for each disagreement
    on a field SpamAssassin found; allow is a set of (basename, n, field)."""
    recs = [r for r in sa_relays(files) if r["relay"]]
    texts = [r["line"].decode("utf-8", "replace").replace("\x00", " ")
             for r in recs]
    # one round trip for all headers
    rows = conn.execute(
        "SELECT host(h.from_ip), h.from_rdns, h.from_helo, h.by_host "
        "FROM unnest(%s::text[]) WITH ORDINALITY AS v(t, n), "
        "LATERAL spamlab.parse_received_header(v.t) h ORDER BY v.n",
        (texts,)).fetchall()
    for rec, row in zip(recs, rows):
        relay = rec["relay"]
        mine = dict(zip(["ip", "rdns", "helo", "by"], row))
        for f in FIELDS:
            sa = relay.get(f) or ""
            if not sa:
                continue
            sa = to_bytes(sa).decode("utf-8", "replace")
            got = mine[f] or ""
            if f == "ip":
                ok = norm_ip(sa) == got
            else:
                ok = sa == got or ("!" in sa and sa == SA_STRIP.sub("!", got))
            key = (os.path.basename(rec["file"]), rec["n"], f)
            if not ok and key not in allow:
                yield rec, f, sa, got


if __name__ == "__main__":
    import psycopg
    files = sys.argv[1:] or sorted(
        p for p in (TOP.parent / "shared" / "testdata" / "mail").rglob("*")
        if p.is_file())
    with psycopg.connect(autocommit=True) as conn:
        bad = list(compare(conn, files))
    for rec, f, sa, got in bad:
        print(f"{os.path.basename(rec['file'])}#{rec['n']} {f}: "
              f"SA={sa!r} spamlab={got!r}\n    {rec['line'][:300]!r}")
    print(f"{len(bad)} disagreements")
