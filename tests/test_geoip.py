"""spamlab.geoip() and friends against real and generated MaxMind DB files.

MaxMind's test databases (../shared/testdata/mmdb) give the expected answers
for the GeoIP2 layout; small databases built here with tools/mmdb-build
(libmaxmind-db-writer-perl) cover the flat ip-location-db layout, reopening,
private addresses and file lists, so those tests run anywhere.
"""
import csv
import ipaddress
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import psycopg
import pytest

from conftest import TOP, shared_path

MMDB_BUILD = TOP / "tools" / "mmdb-build"

CITY_DBS = ["GeoIP2-City-Test", "GeoLite2-City-Test"]
COUNTRY_DBS = ["GeoIP2-Country-Test", "GeoLite2-Country-Test"]
ASN_DBS = ["GeoLite2-ASN-Test"]

# bad-data files that libmaxminddb's own test suite opens and reads as valid
# (an empty container at the very end of the metadata): they work here too
VALID_BAD_DATA = {
    "libmaxminddb-empty-array-last-in-metadata.mmdb",
    "libmaxminddb-empty-map-last-in-metadata.mmdb",
}


@pytest.fixture(scope="module")
def workdir():
    """A directory the server's OS user can read (mmdb files go here).
    Not under pytest's tmp_path: pytest resets /tmp/pytest-of-USER to 0700
    whenever another session starts."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="spamlab-geoip."))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def build(workdir, name, networks, **spec):
    """Build workdir/name from [(network, record), ...]; return its path."""
    spec = {"networks": [list(n) for n in networks], **spec}
    src = workdir / (name + ".json")
    src.write_text(json.dumps(spec))
    out = workdir / name
    subprocess.run([str(MMDB_BUILD), "--json", str(src), str(out)], check=True)
    out.chmod(0o644)
    return str(out)


def setting(conn, name, value):
    conn.execute("SELECT set_config(%s, %s, false)", (f"spamlab.{name}", value))


def geoip_rows(conn, ips):
    """One query over all addresses: [(ip, geoip columns...)] in order."""
    return conn.execute(
        """SELECT t.ip::text, g.*
             FROM unnest(%s::inet[]) WITH ORDINALITY AS t(ip, n)
             LEFT JOIN LATERAL spamlab.geoip(t.ip) AS g ON true
            ORDER BY t.n""",
        (ips,),
    ).fetchall()


COLS = ["country_code", "country_name", "continent", "subdivision", "city",
        "postal_code", "latitude", "longitude", "time_zone", "asn", "as_org",
        "network"]


def as_dict(row):
    d = dict(zip(COLS, row[1:]))
    if d["network"] is not None:
        d["network"] = str(d["network"])
    return d


def expected_network(ip, net):
    """The TSV gives IPv4 networks inside the IPv6 tree (::a.b.c.d/120);
    geoip() reports the IPv4 network for an IPv4 address."""
    if not net:
        return None
    n = ipaddress.ip_network(net, strict=False)
    if ":" not in ip and n.version == 6 and n.prefixlen >= 96:
        v4 = ipaddress.IPv4Address(int(n.network_address) & 0xFFFFFFFF)
        return str(ipaddress.ip_network(f"{v4}/{n.prefixlen - 96}",
                                        strict=False))
    return str(n)


def load_tsv(name):
    with open(shared_path("mmdb", name), newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def source_records(db):
    """network -> record, from MaxMind's JSON source of a test database
    (the TSV has no names: country and subdivision names come from here)."""
    out = {}
    with open(shared_path("mmdb", "source-data", db + ".json")) as f:
        for rec in json.load(f):
            out.update(rec)
    return out


def check_network(got, ip, source_net, where):
    """geoip() reports the network of the tree, where the writer may have
    merged the source network with neighbours holding the same data."""
    want = ipaddress.ip_network(expected_network(ip, source_net))
    assert got is not None, where
    assert want.subnet_of(ipaddress.ip_network(got)), (where, got, want)
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(got), where


DATA_COLUMNS = ["country_iso", "registered_country_iso", "continent",
                "city_en", "subdiv1_iso", "postal", "lat", "lon", "time_zone"]


def test_expected_city_and_country(db):
    """Every City and Country row of expected_lookups.tsv matches."""
    rows = load_tsv("expected_lookups.tsv")
    checked = 0
    for dbname in CITY_DBS + COUNTRY_DBS:
        mine = [r for r in rows if r["db"] == dbname]
        assert mine, dbname
        setting(db, "geoip_asn_db", "")
        setting(db, "geoip_city_db",
                str(shared_path("mmdb", "test-data", dbname + ".mmdb")))
        source = source_records(dbname)
        got = geoip_rows(db, [r["ip"] for r in mine])
        for exp, row in zip(mine, got):
            g = as_dict(row)
            where = f"{dbname} {exp['ip']}"
            src = source[exp["source_network"]]
            if not any(exp[c] for c in DATA_COLUMNS if c != "registered_country_iso"):
                # an empty record: nothing to report, as for no match
                assert row[1:] == (None,) * len(COLS), where
                checked += 1
                continue
            check_network(g["network"], exp["ip"], exp["expected_network"],
                          where)
            assert g["country_code"] == (exp["country_iso"] or None), where
            assert g["country_name"] == src.get("country", {}).get(
                "names", {}).get("en"), where
            assert g["continent"] == (exp["continent"] or None), where
            assert g["city"] == (exp["city_en"] or None), where
            assert g["postal_code"] == (exp["postal"] or None), where
            assert g["time_zone"] == (exp["time_zone"] or None), where
            for col, key in (("latitude", "lat"), ("longitude", "lon")):
                want = float(exp[key]) if exp[key] else None
                assert g[col] == want, where
            if exp["subdiv1_iso"]:
                sub = src["subdivisions"][0]
                assert sub["iso_code"] == exp["subdiv1_iso"], where
                assert g["subdivision"] == sub["names"]["en"], where
            else:
                assert g["subdivision"] is None, where
            assert g["asn"] is None and g["as_org"] is None, where
            checked += 1
        # the fast path agrees
        codes = db.execute(
            "SELECT spamlab.geoip_country(ip) FROM unnest(%s::inet[]) ip",
            ([r["ip"] for r in mine],)).fetchall()
        assert [c[0] for c in codes] == [r["country_iso"] or None for r in mine]
    assert checked > 2000


def test_expected_asn(db):
    """Every ASN row of expected_lookups.tsv matches (city setting unset)."""
    mine = [r for r in load_tsv("expected_lookups.tsv") if r["db"] in ASN_DBS]
    setting(db, "geoip_city_db", "")
    setting(db, "geoip_asn_db",
            str(shared_path("mmdb", "test-data", "GeoLite2-ASN-Test.mmdb")))
    got = geoip_rows(db, [r["ip"] for r in mine])
    for exp, row in zip(mine, got):
        g = as_dict(row)
        where = exp["ip"]
        assert g["asn"] == (int(exp["asn"]) if exp["asn"] else None), where
        assert g["as_org"] == (exp["as_org"] or None), where
        check_network(g["network"], exp["ip"], exp["expected_network"], where)
        assert g["country_code"] is None, where
    asns = db.execute(
        "SELECT spamlab.geoip_asn(ip) FROM unnest(%s::inet[]) ip",
        ([r["ip"] for r in mine],)).fetchall()
    assert [a[0] for a in asns] == [int(r["asn"]) if r["asn"] else None
                                    for r in mine]
    assert len(mine) > 1000


def test_expected_notfound(db):
    """Every expected_notfound.tsv address gives NULL."""
    rows = load_tsv("expected_notfound.tsv")
    for dbname in sorted({r["db"] for r in rows}):
        ips = [r["ip"] for r in rows if r["db"] == dbname]
        path = str(shared_path("mmdb", "test-data", dbname + ".mmdb"))
        asn = "ASN" in dbname or "ISP" in dbname
        setting(db, "geoip_city_db", "" if asn else path)
        setting(db, "geoip_asn_db", path if asn else "")
        for row in geoip_rows(db, ips):
            assert row[1:] == (None,) * len(COLS), (dbname, row[0])


def bad_data_files():
    root = shared_path("mmdb", "bad-data")
    return sorted(root.rglob("*.mmdb"))


def test_bad_data_is_a_clean_error(pg):
    """Every corrupt file gives data_corrupted (on open, on lookup or on
    verify), never a crash; the backend lives on."""
    probes = ["1.1.1.1", "1.2.3.4", "2.125.160.216", "81.2.69.160",
              "216.160.83.56", "2001:218::1", "2a02:d500::1", "abcd::1",
              "128.0.0.1", "255.1.1.1"]
    files = bad_data_files()
    assert len(files) >= 20
    with pg.connect() as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        for f in files:
            for name in ("geoip_city_db", "geoip_asn_db"):
                setting(conn, "geoip_city_db", "")
                setting(conn, "geoip_asn_db", "")
                setting(conn, name, str(f))
                for sql in ("SELECT count(g.*) FROM unnest(%s::inet[]) ip, "
                            "LATERAL spamlab.geoip(ip) g",
                            "SELECT count(spamlab.geoip_country(ip)) "
                            "FROM unnest(%s::inet[]) ip"
                            if name == "geoip_city_db" else
                            "SELECT count(spamlab.geoip_asn(ip)) "
                            "FROM unnest(%s::inet[]) ip"):
                    try:
                        conn.execute(sql, (probes,))
                    except psycopg.errors.DataCorrupted as e:
                        assert "is corrupt" in str(e)
                verify = "SELECT * FROM spamlab.geoip_databases(verify => true)"
                if f.name in VALID_BAD_DATA:
                    assert len(conn.execute(verify).fetchall()) == 1
                else:
                    with pytest.raises(psycopg.errors.DataCorrupted) as e:
                        conn.execute(verify)
                    assert e.value.diag.message_hint.startswith(
                        f"Replace the file named in spamlab.{name}")
                assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] \
                    == pid, f
    # the valid MaxMind test databases pass the same verification
    with pg.connect() as conn:
        for dbname in CITY_DBS + COUNTRY_DBS + ASN_DBS:
            setting(conn, "geoip_city_db",
                    str(shared_path("mmdb", "test-data", dbname + ".mmdb")))
            conn.execute("SELECT * FROM spamlab.geoip_databases(true)")


# ---- self-contained: databases built at test time ----

NESTED = [
    ("81.2.69.0/24", {
        "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
        "continent": {"code": "EU", "names": {"en": "Europe"}},
        "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
        "city": {"names": {"en": "London"}},
        "postal": {"code": "EC1"},
        "location": {"latitude": 51.5142, "longitude": -0.0931,
                     "time_zone": "Europe/London"}}),
    ("10.0.0.0/8", {"country": {"iso_code": "ZZ"}}),
    ("192.168.0.0/16", {"country": {"iso_code": "ZZ"}}),
    ("2001:db8::/32", {"country": {"iso_code": "ZZ"}}),
    ("fe80::/10", {"country": {"iso_code": "ZZ"}}),
    ("2a00:1450::/32", {"country": {"iso_code": "IE"},
                        "continent": {"code": "EU"}}),
]

FLAT_TYPES = {"city": "utf8_string", "latitude": "float",
              "longitude": "float"}
FLAT = [
    ("8.8.8.0/24", {"country_code": "US", "city": "Mountain View",
                    "state1": "California", "state2": "", "postcode": "",
                    "latitude": 37.422001, "longitude": -122.084999,
                    "timezone": ""}),
    ("2001:4860::/32", {"country_code": "US", "city": "", "state1": "",
                        "postcode": "94043", "latitude": 37.4,
                        "longitude": -122.1, "timezone": "America/Los_Angeles"}),
    ("5.5.5.0/24", {"country_code": "AX"}),
    ("6.6.6.0/24", {"country_code": "ZZ"}),
]
ASN = [
    ("8.8.8.0/24", {"autonomous_system_number": 15169,
                    "autonomous_system_organization": "Google LLC"}),
    ("1.0.0.0-1.0.0.255", {"autonomous_system_number": 13335,
                           "autonomous_system_organization": "Cloudflare, Inc."}),
    ("2001:4860::/32", {"autonomous_system_number": 15169}),
]


@pytest.fixture(scope="module")
def dbs(workdir):
    return {
        "nested": build(workdir, "nested.mmdb", NESTED),
        "flat": build(workdir, "flat.mmdb", FLAT, types=FLAT_TYPES),
        "flat4": build(workdir, "flat4.mmdb",
                       [n for n in FLAT if ":" not in n[0]],
                       types=FLAT_TYPES, ip_version=4),
        "flat6": build(workdir, "flat6.mmdb",
                       [n for n in FLAT if ":" in n[0]], types=FLAT_TYPES),
        "asn": build(workdir, "asn.mmdb", ASN),
    }


def one(conn, ip):
    row = geoip_rows(conn, [ip])[0]
    return None if all(v is None for v in row[1:]) else as_dict(row)


def test_nested_layout(db, dbs):
    setting(db, "geoip_city_db", dbs["nested"])
    setting(db, "geoip_asn_db", "")
    g = one(db, "81.2.69.142")
    assert g == {"country_code": "GB", "country_name": "United Kingdom",
                 "continent": "EU", "subdivision": "England",
                 "city": "London", "postal_code": "EC1",
                 "latitude": 51.5142, "longitude": -0.0931,
                 "time_zone": "Europe/London", "asn": None, "as_org": None,
                 "network": "81.2.69.0/24"}
    # an IPv4-mapped IPv6 address is looked up as IPv4
    assert one(db, "::ffff:81.2.69.142")["city"] == "London"
    assert one(db, "64:ff9b::81.2.69.142")["city"] == "London"
    g = one(db, "2a00:1450:4001::1")
    assert (g["country_code"], g["continent"], g["city"], g["network"]) == \
        ("IE", "EU", None, "2a00:1450::/32")
    assert one(db, "5.5.5.5") is None


def test_private_and_reserved_addresses_are_null(db, dbs):
    """The test database answers ZZ for them; geoip() never asks it."""
    setting(db, "geoip_city_db", dbs["nested"])
    setting(db, "geoip_asn_db", dbs["asn"])
    for ip in ["10.1.2.3", "192.168.1.1", "127.0.0.1", "0.0.0.0", "172.16.0.1",
               "100.64.0.1", "169.254.1.1", "192.0.2.1", "198.51.100.1",
               "203.0.113.9", "224.0.0.1", "255.255.255.255", "::1", "::",
               "2001:db8::1", "fe80::1", "fc00::1", "ff02::1",
               "::ffff:10.0.0.1"]:
        assert one(db, ip) is None, ip
        assert db.execute("SELECT spamlab.geoip_country(%s)",
                          (ip,)).fetchone()[0] is None, ip


def test_flat_layout(db, dbs):
    """ip-location-db records: empty strings are NULL, floats read as
    their shortest decimal."""
    setting(db, "geoip_city_db", dbs["flat"])
    setting(db, "geoip_asn_db", dbs["asn"])
    g = one(db, "8.8.8.8")
    # the flat layout has only the code: name and continent from the table
    assert g == {"country_code": "US", "country_name": "United States",
                 "continent": "NA", "subdivision": "California",
                 "city": "Mountain View", "postal_code": None,
                 # float32 37.422001 read as its shortest decimal
                 "latitude": 37.422, "longitude": -122.085,
                 "time_zone": None, "asn": 15169, "as_org": "Google LLC",
                 "network": "8.8.8.0/24"}
    g = one(db, "2001:4860:4860::8888")
    assert (g["country_code"], g["city"], g["postal_code"], g["time_zone"],
            g["asn"], g["as_org"]) == \
        ("US", None, "94043", "America/Los_Angeles", 15169, None)
    assert db.execute("SELECT spamlab.geoip_country('8.8.8.4')").fetchone()[0] \
        == "US"
    g = one(db, "5.5.5.5")
    assert (g["country_code"], g["country_name"], g["continent"]) == \
        ("AX", "Åland", "EU")
    g = one(db, "6.6.6.6")  # a code the table does not know
    assert (g["country_code"], g["country_name"], g["continent"]) == \
        ("ZZ", None, None)
    # ASN from a range that is no CIDR block; network from the ASN file
    setting(db, "geoip_city_db", "")
    g = one(db, "1.0.0.9")
    assert (g["asn"], g["as_org"], g["network"]) == \
        (13335, "Cloudflare, Inc.", "1.0.0.0/24")


def test_file_list(db, dbs):
    """IPv4-only and IPv6 files in one setting, searched in order."""
    setting(db, "geoip_city_db", f"{dbs['flat4']}, {dbs['flat6']}")
    setting(db, "geoip_asn_db", "")
    assert one(db, "8.8.8.8")["city"] == "Mountain View"
    assert one(db, "2001:4860::1")["postal_code"] == "94043"
    rows = db.execute("SELECT setting, path, ip_version "
                      "FROM spamlab.geoip_databases()").fetchall()
    assert rows == [("spamlab.geoip_city_db", dbs["flat4"], 4),
                    ("spamlab.geoip_city_db", dbs["flat6"], 6)]


def test_setting_unset_and_missing_file(pg, workdir):
    with pg.connect() as conn:
        cases = [("spamlab.geoip_country('8.8.8.8')", "spamlab.geoip_city_db"),
                 ("spamlab.geoip_asn('8.8.8.8')", "spamlab.geoip_asn_db"),
                 ("spamlab.geoip('8.8.8.8')", "spamlab.geoip_city_db")]
        for expr, guc in cases:
            with pytest.raises(
                    psycopg.errors.ObjectNotInPrerequisiteState) as e:
                conn.execute(f"SELECT {expr}")
            assert guc in e.value.diag.message_hint
        missing = str(workdir / "absent.mmdb")
        for guc, expr in (("geoip_city_db", "spamlab.geoip_country('8.8.8.8')"),
                          ("geoip_asn_db", "spamlab.geoip_asn('8.8.8.8')"),
                          ("geoip_city_db", "spamlab.geoip('8.8.8.8')")):
            setting(conn, "geoip_city_db", "")
            setting(conn, "geoip_asn_db", "")
            setting(conn, guc, missing)
            with pytest.raises(psycopg.errors.UndefinedFile) as e:
                conn.execute(f"SELECT {expr}")
            assert missing in str(e.value)
            assert f"spamlab.{guc}" in e.value.diag.message_hint


def test_settings_are_superuser_only(pg):
    with pg.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS geoip_nobody")
        conn.execute("CREATE ROLE geoip_nobody LOGIN")
        conn.execute("GRANT USAGE ON SCHEMA spamlab TO geoip_nobody")
    try:
        with pg.connect(user="geoip_nobody") as conn:
            conn.execute("SELECT spamlab.version()")  # loads the library
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SET spamlab.geoip_city_db = '/etc/passwd'")
    finally:
        with pg.connect() as conn:
            conn.execute("DROP OWNED BY geoip_nobody")
            conn.execute("DROP ROLE geoip_nobody")


def test_reopen_when_file_or_setting_changes(pg, workdir, dbs):
    gb = build(workdir, "gb.mmdb",
               [("1.2.3.0/24", {"country": {"iso_code": "GB"}})])
    fr = build(workdir, "fr.mmdb",
               [("1.2.3.0/24", {"country": {"iso_code": "FR"}}),
                ("1.2.4.0/24", {"country": {"iso_code": "FR"}})])
    live = str(workdir / "live.mmdb")
    country = "SELECT spamlab.geoip_country('1.2.3.4')"
    with pg.connect() as conn:
        shutil.copyfile(gb, live)
        os.chmod(live, 0o644)
        setting(conn, "geoip_city_db", live)
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert conn.execute(country).fetchone()[0] == "GB"
        # replaced by rename (the safe way): a new inode
        shutil.copyfile(fr, live + ".new")
        os.chmod(live + ".new", 0o644)
        os.rename(live + ".new", live)
        assert conn.execute(country).fetchone()[0] == "FR"
        # rewritten in place between statements: size and mtime change
        time.sleep(0.01)
        shutil.copyfile(gb, live)
        assert conn.execute(country).fetchone()[0] == "GB"
        # the setting changes
        setting(conn, "geoip_city_db", fr)
        assert conn.execute(country).fetchone()[0] == "FR"
        setting(conn, "geoip_city_db", dbs["nested"])
        assert conn.execute(country).fetchone()[0] is None
        # a file that disappears is an error, not stale answers
        setting(conn, "geoip_city_db", live)
        conn.execute(country)
        os.unlink(live)
        with pytest.raises(psycopg.errors.UndefinedFile):
            conn.execute(country)
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == pid


def test_parallel_workers(pg, dbs):
    """Parallel workers open the files themselves and agree."""
    with pg.connect() as conn:
        setting(conn, "geoip_city_db", dbs["nested"])
        for k, v in (("parallel_setup_cost", "0"), ("parallel_tuple_cost", "0"),
                     ("min_parallel_table_scan_size", "0"),
                     ("max_parallel_workers_per_gather", "2")):
            conn.execute(f"SET {k} = {v}")
        conn.execute("CREATE TEMP TABLE ips AS SELECT ('81.2.69.' || i % 250)"
                     "::inet AS ip FROM generate_series(1, 20000) i")
        # temp tables are not scanned in parallel: use a regular one
        conn.execute("DROP TABLE IF EXISTS geoip_par")
        conn.execute("CREATE TABLE geoip_par AS SELECT * FROM ips")
        try:
            n = conn.execute("SELECT count(*) FROM geoip_par "
                             "WHERE spamlab.geoip_country(ip) = 'GB'"
                             ).fetchone()[0]
            assert n == 20000
        finally:
            conn.execute("DROP TABLE geoip_par")
