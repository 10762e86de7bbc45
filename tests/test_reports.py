"""Enrichment and reports on a small known dataset, with expected rows.

Five messages: three spams of one campaign (two with the same body byte for
byte, one with a small edit), from two GeoIP-known networks, advertising
evil-x.top, one with a PDF attachment; two hams, one of them a reply.
"""
import datetime as dt
import uuid

import psycopg
import pytest

from conftest import fresh_database, shared_path

UTC = dt.timezone.utc
DAY1 = dt.datetime(2026, 10, 5, 10, 0, tzinfo=UTC)
DAY2 = dt.datetime(2026, 10, 6, 9, 30, tzinfo=UTC)

BODY = ("Dear winner,\r\n\r\nYour prize of 25000 EUR is waiting. Claim it at\r\n"
        "http://www.evil-x.top/claim?id=1 or https://evil-x.top/ before Friday.\r\n"
        + "We are the international lottery board and this is line %d.\r\n" * 0
        + "".join("Terms and conditions paragraph %d applies to all winners.\r\n" % i
                  for i in range(60)))


def spam(origin, sender, body=BODY, attach=False):
    hdr = (f"Received: from mail.evil-x.top (unknown [{origin}])\r\n"
           f"\tby mx.trap.example (Postfix) with ESMTP id 4ABC123DEF\r\n"
           f"\tfor <victim@trap.example>; Mon, 5 Oct 2026 10:00:00 +0000\r\n"
           f"From: \"Lottery\" <{sender}>\r\n"
           "To: victim@trap.example\r\n"
           "Subject: You won\r\n"
           "Date: Mon, 5 Oct 2026 09:59:00 +0000\r\n"
           f"Message-ID: <{uuid.uuid4()}@evil-x.top>\r\n"
           "MIME-Version: 1.0\r\n")
    if not attach:
        return (hdr + "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
                + body).encode()
    return (hdr + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            + body + "\r\n--b1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n"
            "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs\r\n--b1--\r\n"
            ).encode()


def ham(subject, reply=False):
    return ("Received: from laptop.friends.example.org (laptop.friends.example.org"
            " [2.125.160.216])\r\n\tby mail.example.org (Postfix) with ESMTPSA id"
            " 77AA\r\n\tfor <me@example.org>; Tue, 6 Oct 2026 09:30:00 +0000\r\n"
            "From: Friend <friend@example.org>\r\nTo: me@example.org\r\n"
            f"Subject: {subject}\r\nDate: Tue, 6 Oct 2026 09:29:00 +0000\r\n"
            + ("In-Reply-To: <abc@example.org>\r\n" if reply else "")
            + "\r\nSee you at lunch.\r\n").encode()


MESSAGES = [
    # (received_at, label, peer_ip, helo, rcpt, raw)
    (DAY1, None, "81.2.69.160", "mail.evil-x.top", ["victim@trap.example"],
     spam("81.2.69.160", "a@evil-x.top", attach=True)),
    (DAY1 + dt.timedelta(minutes=1), None, "81.2.69.170", "mail.evil-x.top",
     ["victim@trap.example", "other@trap2.example"],
     spam("81.2.69.170", "b@evil-x.top")),
    (DAY1 + dt.timedelta(minutes=2), None, "214.0.1.10", "EVIL", ["x@trap.example"],
     spam("214.0.1.10", "c@evil-x.top", body=BODY.replace("Friday", "Sunday"))),
    (DAY2, "ham", None, None, ["me@example.org"], ham("lunch")),
    (DAY2 + dt.timedelta(hours=1), "ham", None, None, ["me@example.org"],
     ham("Re: lunch", reply=True)),
]


def load(conn, rows):
    keys = []
    for received_at, label, peer, helo, rcpt, raw in rows:
        mid = uuid.uuid4()
        conn.execute(
            "INSERT INTO spamlab.message (id, received_at, source, label, peer_ip,"
            " helo, mail_from, rcpt_to, size, raw) VALUES (%s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s)",
            (mid, received_at, "smtp" if label is None else "eml", label, peer,
             helo, "bounce@evil-x.top" if label is None else "friend@example.org",
             rcpt, len(raw), raw))
        keys.append(mid)
    return keys


# AUTH attempts: (day offset, peer, [(mechanism, user, password, code)])
AUTH_SESSIONS = [
    (DAY1, "81.2.69.160", [("LOGIN", "admin", "123456", 235)]),
    (DAY1 + dt.timedelta(minutes=3), "214.0.1.10",
     [("PLAIN", "admin", "password", 235)]),
    (DAY1 + dt.timedelta(minutes=4), "214.0.1.10",
     [("NTLM", "CORP\\administrator",
       "administrator::CORP:1122334455667788:00aa:0101", 235)]),
    (DAY2, "214.0.1.10", [("LOGIN", "admin", None, 501),
                          ("GSSAPI", None, None, 535),
                          ("LOGIN", "info", "123456", 235)]),
]


def load_auth(conn, first_message):
    """The sessions above; the first message was sent after the first."""
    for i, (at, peer, attempts) in enumerate(AUTH_SESSIONS):
        sid = uuid.uuid4()
        conn.execute("INSERT INTO spamlab.smtp_session (id, started_at,"
                     " peer_ip, n_auth) VALUES (%s, %s, %s, %s)",
                     (sid, at, peer, len(attempts)))
        for n, (mech, user, pw, code) in enumerate(attempts, 1):
            conn.execute("INSERT INTO spamlab.smtp_auth VALUES (%s, %s, %s,"
                         " %s, %s, %s, %s, %s)",
                         (sid, n, at + dt.timedelta(seconds=n), mech, user,
                          pw, code, "KALI" if mech == "NTLM" else None))
        if i == 0:
            conn.execute("INSERT INTO spamlab.message_auth SELECT"
                         " received_at, id, 'admin', '123456' FROM"
                         " spamlab.message WHERE id = %s", (first_message,))


def setup_reports(conn):
    city = shared_path("mmdb", "test-data", "GeoIP2-City-Test.mmdb")
    conn.execute(f"ALTER DATABASE \"{conn.info.dbname}\" SET"
                 f" spamlab.geoip_city_db = '{city}'")
    conn.execute(f"SET spamlab.geoip_city_db = '{city}'")
    keys = load(conn, MESSAGES)
    load_auth(conn, keys[0])
    # what whois_refresh() would have stored
    conn.execute("INSERT INTO spamlab.whois_cache (domain, status, created,"
                 " queried_at) VALUES ('evil-x.top', 'ok', '2026-09-30', now()),"
                 " ('example.org', 'ok', '1995-08-31', now())")
    conn.execute("CALL spamlab.enrich()")
    conn.execute("SELECT spamlab.refresh_reports()")


@pytest.fixture(scope="module")
def reports(pg):
    """The dataset enriched and reported, shared by the read-only tests."""
    with fresh_database(pg) as conn:
        setup_reports(conn)
        yield conn


@pytest.fixture
def own_reports(fresh_db):
    """The same, in a database of the test's own (for tests that change it)."""
    setup_reports(fresh_db)
    return fresh_db


def rows(conn, sql):
    return [tuple(r) for r in conn.execute(sql).fetchall()]


def test_facts_one_row_per_message(reports):
    assert rows(reports, "SELECT count(*), count(origin_ip), count(*) FILTER"
                " (WHERE is_reply) FROM spamlab.message_fact") == [(5, 5, 1)]
    assert rows(reports, "SELECT host(origin_ip), origin_country, from_domain,"
                " url_count, attachment_count FROM spamlab.message_fact"
                " WHERE label IS NULL ORDER BY received_at") == [
        ("81.2.69.160", "GB", "evil-x.top", 2, 1),
        ("81.2.69.170", "GB", "evil-x.top", 2, 0),
        ("214.0.1.10", "AU", "evil-x.top", 2, 0)]


def test_volume_reports(reports):
    assert rows(reports, "SELECT day::text, messages, spam, ham FROM"
                " spamlab.report_daily ORDER BY day") == [
        ("2026-10-05", 3, 3, 0), ("2026-10-06", 2, 0, 2)]
    assert rows(reports, "SELECT count(*), sum(messages) FROM"
                " spamlab.report_hourly") == [(3, 5)]
    assert rows(reports, "SELECT to_char(hour, 'YYYY-MM-DD HH24'), messages"
                " FROM spamlab.report_hourly ORDER BY 1") == [
        ("2026-10-05 10", 3), ("2026-10-06 09", 1), ("2026-10-06 10", 1)]


def test_origin_reports(reports):
    assert rows(reports, "SELECT country_code, messages, percent::text FROM"
                " spamlab.report_country ORDER BY messages DESC, 1") == [
        ("GB", 4, "80.00"), ("AU", 1, "20.00")]
    assert rows(reports, "SELECT network::text, messages, origin_ips FROM"
                " spamlab.report_origin_net ORDER BY messages DESC, 1") == [
        ("2.125.160.0/24", 2, 1), ("81.2.69.0/24", 2, 2), ("214.0.1.0/24", 1, 1)]
    assert rows(reports, "SELECT host(ip), messages FROM spamlab.report_origin_ip"
                " ORDER BY messages DESC, 1 LIMIT 1") == [("2.125.160.216", 2)]


def test_domain_reports(reports):
    assert rows(reports, "SELECT domain, messages FROM spamlab.report_sender_domain"
                " ORDER BY 1") == [("evil-x.top", 3), ("example.org", 2)]
    assert rows(reports, "SELECT domain, messages, recipients FROM"
                " spamlab.report_recipient_domain ORDER BY 1") == [
        ("example.org", 2, 2), ("trap.example", 3, 3), ("trap2.example", 1, 1)]
    assert rows(reports, "SELECT domain, messages, urls FROM"
                " spamlab.report_url_domain ORDER BY 1") == [("evil-x.top", 3, 6)]
    assert rows(reports, "SELECT helo, messages FROM spamlab.report_helo"
                " ORDER BY 1") == [("", 2), ("evil", 1), ("mail.evil-x.top", 2)]


def test_attachment_and_size_reports(reports):
    assert rows(reports, "SELECT content_type, extension, attachments FROM"
                " spamlab.report_attachment_type") == [("application/pdf", "pdf", 1)]
    # power-of-two buckets: the hams under 1 KB, two spams of ~4,080 bytes,
    # the one with the attachment just over 4 KB
    assert rows(reports, "SELECT bucket_from, messages FROM spamlab.report_size"
                " ORDER BY 1") == [(0, 2), (2048, 2), (4096, 1)]


def test_campaign_reports(reports):
    # the two identical spam bodies are one exact campaign, the two hams
    # ("See you at lunch.") another
    assert rows(reports, "SELECT messages, origin_ips, sample_subject FROM"
                " spamlab.report_campaign_body ORDER BY 3") == [
        (2, 1, "Re: lunch"), (2, 2, "You won")]
    # the edited body joins them in one fuzzy campaign; the hams are another
    assert rows(reports, "SELECT messages, variants FROM"
                " spamlab.report_campaign_fuzzy ORDER BY messages DESC") == [
        (3, 2), (2, 1)]
    assert rows(reports, "SELECT domain, messages, origin_networks, countries FROM"
                " spamlab.report_campaign_url_domain") == [("evil-x.top", 3, 2, 2)]
    assert rows(reports, "SELECT network::text, messages FROM"
                " spamlab.report_campaign_network ORDER BY 1") == [
        ("2.125.160.0/24", 2), ("214.0.1.0/24", 1), ("81.2.69.0/24", 2)]


def test_domain_age_report(reports):
    assert rows(reports, "SELECT kind, label, domain, age_days, messages FROM"
                " spamlab.report_domain_age ORDER BY 1, 2") == [
        ("sender", "ham", "example.org", 11359, 2),
        ("sender", "spam", "evil-x.top", 5, 3),
        ("url", "spam", "evil-x.top", 5, 3)]


def test_replies_report(reports):
    assert rows(reports, "SELECT label, messages, replies, reply_percent::text,"
                " re_subjects FROM spamlab.report_replies ORDER BY 1") == [
        ("ham", 2, 1, "50.00", 1), ("spam", 3, 0, "0.00", 0)]


def test_auth_reports(reports):
    assert rows(reports, "SELECT day::text, mechanism, attempts, accepted,"
                " peers, accounts, sessions FROM spamlab.report_auth_daily"
                " ORDER BY 1, 2") == [
        ("2026-10-05", "LOGIN", 1, 1, 1, 1, 1),
        ("2026-10-05", "NTLM", 1, 1, 1, 1, 1),
        ("2026-10-05", "PLAIN", 1, 1, 1, 1, 1),
        ("2026-10-06", "GSSAPI", 1, 0, 1, 0, 1),
        ("2026-10-06", "LOGIN", 2, 1, 1, 2, 1)]
    # admin: three attempts from two peers with two passwords (the aborted
    # one offered none), one message sent after logging in
    assert rows(reports, "SELECT username, attempts, accepted, peers,"
                " passwords, mechanisms, messages FROM"
                " spamlab.report_auth_account ORDER BY attempts DESC,"
                " username") == [
        ("admin", 3, 2, 2, 2, ["LOGIN", "PLAIN"], 1),
        ("", 1, 0, 1, 0, ["GSSAPI"], 0),
        ("CORP\\administrator", 1, 1, 1, 0, ["NTLM"], 0),
        ("info", 1, 1, 1, 1, ["LOGIN"], 0)]
    # the NTLM login came from one named machine
    assert rows(reports, "SELECT username, workstations FROM"
                " spamlab.report_auth_account WHERE workstations > 0") == [
        ("CORP\\administrator", 1)]
    # NTLM responses are not passwords
    assert rows(reports, "SELECT password, attempts, accounts, peers FROM"
                " spamlab.report_auth_password ORDER BY attempts DESC,"
                " password") == [
        ("123456", 2, 2, 2), ("password", 1, 1, 1)]


def test_search(reports):
    def s(q):
        return sorted((r[2], r[3]) for r in reports.execute(
            "SELECT * FROM spamlab.search(%s)", (q,)).fetchall())
    assert len(s("81.2.69.160")) == 1
    assert {tuple(m) for m, _ in s("81.2.69.0/24")} == {
        ("hop", "origin_ip", "peer_ip")}
    assert len(s("81.2.69.1/16")) == 2      # host bits set: still a network
    assert len(s("evil-x.top")) == 3
    assert len(s("EVIL-X.TOP.")) == 3
    assert len(s("http://www.evil-x.top/claim")) == 3
    assert s("nothing.example") == []
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        reports.execute("SELECT * FROM spamlab.search('  ')")


def test_enrich_is_incremental_and_rebuilds(own_reports):
    reports = own_reports
    state = "SELECT last_run_messages FROM spamlab.enrich_state"
    reports.execute("CALL spamlab.enrich()")
    assert rows(reports, state) == [(0,)]
    load(reports, MESSAGES[:1])
    reports.execute("CALL spamlab.enrich()")
    assert rows(reports, state) == [(1,)]
    reports.execute("CALL spamlab.enrich(rebuild => true)")
    assert rows(reports, state) == [(6,)]
    assert rows(reports, "SELECT count(*) FROM spamlab.message_fact") == [(6,)]
    # a new parser version recomputes everything too
    reports.execute("UPDATE spamlab.enrich_state SET parser_version = '0.0.0'")
    reports.execute("CALL spamlab.enrich(batch_size => 2)")
    assert rows(reports, state) == [(6,)]


def test_refresh_is_concurrent_and_repeatable(reports):
    n = reports.execute("SELECT spamlab.refresh_reports()").fetchone()[0]
    assert n >= 15
    views = rows(reports, "SELECT count(*) FROM pg_matviews WHERE schemaname ="
                 " 'spamlab' AND NOT ispopulated")
    assert views == [(0,)]


def test_enrich_runs_while_ingest_inserts(pg, own_reports):
    reports = own_reports
    """Ingest and enrichment at once: every message ends up enriched once."""
    import threading
    name = reports.info.dbname
    done = threading.Event()

    def ingest():
        with pg.connect(dbname=name) as c:
            for i in range(40):
                load(c, [(DAY2 + dt.timedelta(seconds=i), *MESSAGES[3][1:])])
        done.set()

    t = threading.Thread(target=ingest)
    t.start()
    with pg.connect(dbname=name) as c:
        while not done.is_set():
            c.execute("CALL spamlab.enrich(batch_size => 7)")
        t.join()
        c.execute("CALL spamlab.enrich()")
        assert rows(c, "SELECT (SELECT count(*) FROM spamlab.message),"
                    " (SELECT count(*) FROM spamlab.message_fact)") == [(45, 45)]


def test_asn_report(fresh_db):
    """Origin networks by AS number and owner, from an ASN database."""
    asn = shared_path("mmdb", "test-data", "GeoLite2-ASN-Test.mmdb")
    fresh_db.execute(f"SET spamlab.geoip_asn_db = '{asn}'")
    load(fresh_db, [
        (DAY1, None, "1.128.0.5", "x", ["a@trap.example"],
         spam("1.128.0.5", "a@evil-x.top")),
        (DAY1, None, "1.128.0.9", "x", ["a@trap.example"],
         spam("1.128.0.9", "b@evil-x.top")),
        (DAY1, None, "12.81.92.7", "x", ["a@trap.example"],
         spam("12.81.92.7", "c@evil-x.top"))])
    fresh_db.execute("CALL spamlab.enrich()")
    fresh_db.execute("SELECT spamlab.refresh_reports()")
    assert rows(fresh_db, "SELECT asn, as_org, messages, origin_ips FROM"
                " spamlab.report_asn ORDER BY messages DESC") == [
        (1221, "Telstra Pty Ltd", 2, 2), (7018, "AT&T Services", 1, 1)]
