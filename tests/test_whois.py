"""whois(): the lookup chain against a fake whois service on 127.0.0.1.

Every scenario checks the row whois() returns, the cache entry it leaves
and how many queries reached the fake servers.  Nothing touches the
internet: every TLD used is routed to the fake by spamlab.whois_servers.
"""
import os
import subprocess
import threading
import time

import psycopg
import pytest

from fakewhois import FakeWhois, REGISTRAR_CREATED, REGISTRY_CREATED


@pytest.fixture(scope="module")
def fake():
    fw = FakeWhois()
    yield fw
    fw.close()


@pytest.fixture
def conn(pg, fake):
    """A connection set up for live lookups at the fake service."""
    with pg.connect() as c:
        c.execute("DELETE FROM spamlab.whois_cache")
        c.execute("DELETE FROM spamlab.whois_tld")
        configure(c, fake)
        fake.reset()
        yield c


def configure(c, fake, **kw):
    settings = {
        "whois_mode": "live",
        "whois_servers": f"com={fake.addr('registry')},"
                         f"net=127.0.0.1:{fake.closed_port},"
                         f"iana={fake.addr('iana')}",
        "whois_allow_private": "on",
        "whois_rate": "0",
        "whois_timeout": "2000",
        "TimeZone": "UTC",
    }
    settings.update(kw)
    for k, v in settings.items():
        name = k if k == "TimeZone" else "spamlab." + k
        c.execute(f"SELECT set_config('{name}', %s, false)", (str(v),))


def whois(c, domain):
    cur = c.execute("SELECT * FROM spamlab.whois(%s)", (domain,))
    cols = [d.name for d in cur.description]
    return dict(zip(cols, cur.fetchone()))


def cached(c, domain):
    cur = c.execute("SELECT * FROM spamlab.whois_cache WHERE domain = %s",
                    (domain,))
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d.name for d in cur.description], row))


def iso(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def test_thick_registry_answer(conn, fake):
    r = whois(conn, "mail.ok-a.com")
    assert r["registrable_domain"] == "ok-a.com"
    assert r["status"] == "ok"
    assert iso(r["created"]) == REGISTRY_CREATED
    assert iso(r["expires"]) == "2028-09-14T04:00:00Z"
    assert r["registrar"] == "Example Registrar, Inc."
    assert r["server"] == fake.addr("registry")
    assert fake.count("registry", "ok-a.com") == 1
    assert fake.count("registrar") == 0
    row = cached(conn, "ok-a.com")
    assert row["status"] == "ok"
    assert "Creation Date" in row["raw"]
    assert row["registry_raw"] is None
    assert row["queried_at"] == r["queried_at"]


def test_referral_chain(conn, fake):
    r = whois(conn, "thin-a.com")
    assert r["status"] == "ok"
    # the registry's dates are authoritative; the registrar names itself
    assert iso(r["created"]) == REGISTRY_CREATED != REGISTRAR_CREATED
    assert r["registrar"] == "Fake Registrar LLC"
    assert r["server"] == fake.addr("registrar")
    assert fake.count("registry", "thin-a.com") == 1
    assert fake.count("registrar", "thin-a.com") == 1
    row = cached(conn, "thin-a.com")
    assert "Registrar WHOIS Server" in row["registry_raw"]
    assert "Fake Registrar LLC" in row["raw"]


def test_iana_referral_for_unmapped_tld(conn, fake):
    # .dk is neither overridden nor in the built-in map: ask IANA
    r = whois(conn, "www.ok-x.dk")
    assert r["status"] == "ok" and r["created"] is not None
    assert fake.count("iana", "dk") == 1
    assert conn.execute("SELECT server FROM spamlab.whois_tld WHERE tld = 'dk'"
                        ).fetchone()[0] == fake.addr("registry")
    # the TLD's server is cached: the next .dk domain skips IANA
    assert whois(conn, "ok-y.dk")["status"] == "ok"
    assert fake.count("iana") == 1
    assert fake.count("registry") == 2


def test_tld_without_whois_server(conn, fake):
    r = whois(conn, "spam.aq")
    assert r["status"] == "no_server" and r["created"] is None
    assert conn.execute("SELECT server FROM spamlab.whois_tld WHERE tld = 'aq'"
                        ).fetchone()[0] is None
    assert cached(conn, "spam.aq")["status"] == "no_server"
    fake.reset()
    conn.execute("DELETE FROM spamlab.whois_cache")
    assert whois(conn, "other.aq")["status"] == "no_server"
    assert fake.count() == 0


def test_slow_server_times_out(conn, fake):
    configure(conn, fake, whois_timeout=300, whois_negative_ttl=3600)
    t0 = time.monotonic()
    r = whois(conn, "slow-a.com")
    assert time.monotonic() - t0 < 5
    assert r["status"] == "timeout"
    assert r["created"] is None
    row = cached(conn, "slow-a.com")
    assert row["status"] == "timeout" and row["raw"] is None
    # the negative entry is reused within whois_negative_ttl ...
    assert whois(conn, "slow-a.com")["status"] == "timeout"
    assert fake.count("registry", "slow-a.com") == 1


def test_negative_results_expire_sooner(conn, fake):
    configure(conn, fake, whois_timeout=300, whois_cache_ttl=3600,
              whois_negative_ttl=1)
    whois(conn, "slow-b.com")
    whois(conn, "ok-b.com")
    time.sleep(1.2)
    fake.reset()
    assert whois(conn, "slow-b.com")["status"] == "timeout"
    assert whois(conn, "ok-b.com")["status"] == "ok"
    assert fake.count("registry", "slow-b.com") == 1  # asked again
    assert fake.count("registry", "ok-b.com") == 0  # still cached


def test_huge_answer_is_capped(conn, fake):
    r = whois(conn, "huge-a.com")
    assert r["status"] == "truncated"
    assert iso(r["created"]) == REGISTRY_CREATED
    row = cached(conn, "huge-a.com")
    assert row["status"] == "truncated"
    assert len(row["raw"]) == 256 * 1024


def test_refused_connection(conn, fake):
    r = whois(conn, "spam.net")
    assert r["status"] == "refused" and r["created"] is None
    assert r["server"] == f"127.0.0.1:{fake.closed_port}"
    assert cached(conn, "spam.net")["status"] == "refused"


def test_garbage_answer(conn, fake):
    r = whois(conn, "garbage-a.com")
    assert r["status"] == "unparsed" and r["created"] is None
    raw = cached(conn, "garbage-a.com")["raw"]
    assert len(raw) > 2000 and "\x00" not in raw


@pytest.mark.parametrize("domain", ["throttle-a.com", "ratelimit-a.com"])
def test_throttled_answer(conn, fake, domain):
    r = whois(conn, domain)
    assert r["status"] == "throttled" and r["created"] is None
    assert cached(conn, domain)["status"] == "throttled"


@pytest.mark.parametrize("domain", ["missing-a.com", "free-a.com"])
def test_not_found(conn, fake, domain):
    r = whois(conn, domain)
    assert r["status"] == "not_found" and r["registrar"] is None
    assert cached(conn, domain)["status"] == "not_found"


def test_cache_hit_makes_no_connection(conn, fake):
    first = whois(conn, "ok-c.com")
    second = whois(conn, "www.ok-c.com")
    assert fake.count() == 1
    assert second["created"] == first["created"]
    assert second["queried_at"] == first["queried_at"]
    assert second["domain"] == "www.ok-c.com"


def test_cache_only_and_off(conn, fake):
    configure(conn, fake, whois_mode="cache_only")
    assert whois(conn, "ok-d.com")["status"] == "not_cached"
    assert fake.count() == 0
    configure(conn, fake, whois_mode="live")
    whois(conn, "ok-d.com")
    configure(conn, fake, whois_mode="cache_only")
    r = whois(conn, "ok-d.com")
    assert r["status"] == "ok" and r["created"] is not None
    configure(conn, fake, whois_mode="off")
    r = whois(conn, "ok-d.com")
    assert r["status"] == "disabled" and r["created"] is None
    assert fake.count() == 1


def test_created_and_age(conn, fake):
    created = conn.execute("SELECT spamlab.whois_created('ok-e.com')"
                           ).fetchone()[0]
    assert iso(created) == REGISTRY_CREATED
    age = conn.execute("SELECT spamlab.whois_age('x.ok-e.com', "
                       "'1998-09-15 04:00:00+00')").fetchone()[0]
    assert age.days == 365
    assert fake.count() == 1


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_statement_timeout_cancels_hanging_lookup(conn, fake):
    configure(conn, fake, whois_timeout=60000)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    before = fd_count(pid)
    conn.execute("SET statement_timeout = '300ms'")
    t0 = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled):
        whois(conn, "slow-c.com")
    assert time.monotonic() - t0 < 5
    conn.execute("RESET statement_timeout")
    # the socket was closed, and the backend still works
    assert fd_count(pid) <= before
    assert whois(conn, "ok-f.com")["status"] == "ok"
    # nothing was cached for the cancelled lookup
    assert cached(conn, "slow-c.com") is None


def test_cancel_request_stops_lookup(pg, conn, fake):
    configure(conn, fake, whois_timeout=60000)
    t0 = time.monotonic()
    threading.Timer(0.3, conn.cancel).start()
    with pytest.raises(psycopg.errors.QueryCanceled):
        whois(conn, "slow-d.com")
    assert time.monotonic() - t0 < 5


def test_private_referral_refused(conn, fake):
    configure(conn, fake, whois_allow_private="off")
    r = whois(conn, "thin-b.com")
    # the registry (an override: trusted) answered; its referral was not
    assert r["status"] == "blocked"
    assert r["server"] == fake.addr("registrar")
    assert iso(r["created"]) == REGISTRY_CREATED
    assert fake.count("registrar") == 0
    # an IANA referral to a loopback address is refused as well
    r = whois(conn, "ok-g.dk")
    assert r["status"] == "blocked" and fake.count("registry", "ok-g.dk") == 0


def test_dead_referral_keeps_registry_data(conn, fake):
    r = whois(conn, "deadref-a.com")
    assert r["status"] == "refused"
    assert iso(r["created"]) == REGISTRY_CREATED
    row = cached(conn, "deadref-a.com")
    assert row["status"] == "refused" and row["created"] is not None
    assert row["registry_raw"] is not None


def test_refresh_bounded_concurrency(conn, fake):
    configure(conn, fake, whois_timeout=700, whois_concurrency=3)
    domains = [f"slow-r{i}.com" for i in range(6)]
    n = conn.execute("SELECT spamlab.whois_refresh(%s)",
                     (domains + ["www.slow-r0.com", "192.0.2.1", None],)
                     ).fetchone()[0]
    assert n == 6
    assert fake.count("registry") == 6
    # The bound, read from arrival times: a slow lookup holds its slot
    # until the 700 ms timeout, so any four queries span at least that
    # long, while the first three go out together. (The fake's own
    # count of open connections notices a client's close only at its
    # next poll, so it may briefly see a fourth.)
    with fake.lock:
        t = sorted(fake.times)
    assert t[2] - t[0] < 0.4
    assert all(t[i + 3] - t[i] > 0.5 for i in range(len(t) - 3))
    assert conn.execute("SELECT count(*) FROM spamlab.whois_cache WHERE "
                        "status = 'timeout'").fetchone()[0] == 6


def test_refresh_skips_fresh_entries(conn, fake):
    whois(conn, "ok-h.com")
    n = conn.execute("SELECT spamlab.whois_refresh(ARRAY['ok-h.com', "
                     "'thin-h.com', 'missing-h.com'])").fetchone()[0]
    assert n == 2
    assert fake.count("registry", "ok-h.com") == 1
    rows = dict(conn.execute("SELECT domain, status FROM spamlab.whois_cache"
                             ).fetchall())
    assert rows == {"ok-h.com": "ok", "thin-h.com": "ok",
                    "missing-h.com": "not_found"}
    assert conn.execute("SELECT spamlab.whois_refresh(ARRAY['thin-h.com'])"
                        ).fetchone()[0] == 0


def test_rate_limit_spaces_queries(conn, fake):
    # 2 queries/s with a bucket of 2: the first two at once, then one per
    # 0.5 s, even with 4 lookups allowed at a time
    configure(conn, fake, whois_rate=2, whois_concurrency=4)
    conn.execute("SELECT spamlab.whois_refresh(ARRAY['ok-r1.com', "
                 "'ok-r2.com', 'ok-r3.com', 'ok-r4.com'])")
    t = sorted(fake.times)
    assert len(t) == 4
    assert t[2] - t[0] >= 0.4
    assert t[3] - t[0] >= 0.9


def test_cache_survives_pg_dump(pg, conn, fake):
    whois(conn, "ok-i.com")
    out = subprocess.run(
        ["/usr/lib/postgresql/15/bin/pg_dump", "--data-only",
         "-d", "spamlab"], env=pg.environ(), check=True,
        capture_output=True, text=True).stdout
    assert "COPY spamlab.whois_cache" in out
    assert "ok-i.com" in out


def test_unprivileged_role_uses_and_fills_cache(conn, fake):
    conn.execute("DROP ROLE IF EXISTS whois_user")
    conn.execute("CREATE ROLE whois_user")
    conn.execute("GRANT USAGE ON SCHEMA spamlab TO whois_user")
    try:
        conn.execute("SET ROLE whois_user")
        # the session's (superuser-set) live mode still applies
        r = whois(conn, "ok-j.com")
        assert r["status"] == "ok" and r["created"] is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM spamlab.whois_cache")
        conn.execute("RESET ROLE")
        assert cached(conn, "ok-j.com")["status"] == "ok"
    finally:
        conn.execute("RESET ROLE")
        conn.execute("REVOKE USAGE ON SCHEMA spamlab FROM whois_user")
        conn.execute("DROP ROLE whois_user")


def test_refresh_asks_iana_once_per_tld(conn, fake):
    configure(conn, fake, whois_rate=50, whois_concurrency=4)
    n = conn.execute("SELECT spamlab.whois_refresh(ARRAY['ok-k1.dk', "
                     "'ok-k2.dk', 'ok-k3.dk', 'ok-k4.dk'])").fetchone()[0]
    assert n == 4
    assert fake.count("registry") == 4
    assert fake.count("iana", "dk") == 1


def test_read_only_transaction_looks_up_without_storing(conn, fake):
    conn.execute("SET default_transaction_read_only = on")
    try:
        r = whois(conn, "ok-l.com")
        assert r["status"] == "ok" and r["created"] is not None
    finally:
        conn.execute("SET default_transaction_read_only = off")
    assert cached(conn, "ok-l.com") is None


def test_refresh_many_domains_in_batches(conn, fake):
    configure(conn, fake, whois_concurrency=16)
    domains = [f"www.ok-m{i}.com" for i in range(600)] * 2
    n = conn.execute("SELECT spamlab.whois_refresh(%s)", (domains,)
                     ).fetchone()[0]
    assert n == 600
    assert fake.count("registry") == 600
    assert fake.max_active <= 16
    assert conn.execute("SELECT count(*) FROM spamlab.whois_cache WHERE "
                        "status = 'ok' AND created IS NOT NULL"
                        ).fetchone()[0] == 600


def test_server_names_are_resolved_and_checked(conn, fake):
    # IANA names the .fi server "localhost:PORT": resolved, then refused as
    # a loopback address unless whois_allow_private is on
    assert whois(conn, "ok-n.fi")["status"] == "ok"
    assert conn.execute("SELECT server FROM spamlab.whois_tld WHERE "
                        "tld = 'fi'").fetchone()[0].startswith("localhost:")
    configure(conn, fake, whois_allow_private="off")
    r = whois(conn, "ok-o.fi")
    assert r["status"] == "blocked"
    assert fake.count("registry", "ok-o.fi") == 0


def test_unusable_server_is_an_error(conn, fake):
    configure(conn, fake, whois_servers="com=127.0.0.1:0")
    r = whois(conn, "ok-p.com")
    assert r["status"] == "error" and r["created"] is None
    assert cached(conn, "ok-p.com")["status"] == "error"


def test_referral_to_privileged_port_refused(conn, fake):
    # even with whois_allow_private on: only port 43 below 1024
    r = whois(conn, "badport-a.com")
    assert r["status"] == "blocked"
    assert r["server"] == "127.0.0.1:25"
    assert iso(r["created"]) == REGISTRY_CREATED


def test_saved_plan_survives_extension_recreate(fresh_db):
    c = fresh_db
    assert whois(c, "x.com")["status"] == "not_cached"
    c.execute("DROP EXTENSION spamlab CASCADE")
    c.execute("CREATE EXTENSION spamlab")
    c.execute("INSERT INTO spamlab.whois_cache (domain, status, queried_at) "
              "VALUES ('x.com', 'ok', now())")
    assert whois(c, "x.com")["status"] == "ok"
