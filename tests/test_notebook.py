"""notebooks/spamlab.ipynb executes headless against a database with the
reports dataset plus ten days of trap traffic with relay decisions and SMTP
sessions of three bots (two of them logging in), and writes its figures as
PNG files."""
import datetime as dt
import os
import pathlib
import uuid

import nbclient
import nbformat

from conftest import TOP
from test_relay_sql import add_session, bot_a, bot_b
from test_reports import reports  # noqa: F401  (the fixture)

FIGURES = {"volume_per_day", "origin_country", "domain_age", "replies",
           "message_size", "relay_daily", "top_dialects", "auth_daily"}
DAY0 = dt.datetime(2026, 9, 20, 8, 0, tzinfo=dt.timezone.utc)
# peers the MaxMind test database places: GB, AU, SE
PEERS = ["81.2.69.160", "2.125.160.216", "214.0.1.10", "89.160.20.112"]


def add_relay_traffic(conn):
    """Ten days: probes on days 2-3, the first delivered on day 3, then more
    spam per day from three bots (the shape of the thesis's Figure 1)."""
    volume = [3, 4, 4, 9, 14, 20, 26, 30, 33, 35]
    for day, n in enumerate(volume):
        for i in range(n):
            at = DAY0 + dt.timedelta(days=day, minutes=7 * i)
            # each bot has peers of its own: bot A fast from GB, bot A
            # slow from AU and GB, bot B from SE and AU
            peer = [PEERS[i % 2], PEERS[1 + i % 2], PEERS[2 + i % 2]][i % 3]
            if i % 3 == 2:
                cmds = bot_b("mail.spam.test", "x@spam.test", ["v@t.test"])
            else:
                cmds = bot_a(peer, "x@spam.test", ["v@t.test"] * (1 + i % 2),
                             base_gap=50 if i % 3 == 0 else 900)
            sid = add_session(conn, peer, cmds, start=at)
            if i % 3 != 2:  # bot A logs in first, with LOGIN or NTLM
                mech = "NTLM" if i % 4 == 1 else "LOGIN"
                conn.execute(
                    "INSERT INTO spamlab.smtp_auth VALUES (%s, 1, %s, %s, %s,"
                    " %s, 235)", (sid, at, mech, f"user{i % 5}",
                                  f"pw{i % 7}" if mech == "LOGIN" else None))
            mid = uuid.uuid4()
            raw = f"Subject: offer {day}/{i}\r\n\r\nbuy\r\n".encode()
            conn.execute(
                "INSERT INTO spamlab.message (id, received_at, source, peer_ip,"
                " rcpt_to, size, raw, session_id) VALUES (%s, %s, 'smtp', %s,"
                " ARRAY['v@t.test'], %s, %s, %s)",
                (mid, at, peer, len(raw), raw, sid))
            if day in (2, 3) and i < 3:
                delivered = day == 3 and i < 2
                conn.execute(
                    "INSERT INTO spamlab.relay_decision (message_id,"
                    " received_at, rule, decision, cap, target, attempts,"
                    " final_code, delivered_at) VALUES (%s, %s, 'self-mention',"
                    " %s, %s, %s, %s, %s, %s)",
                    (mid, at, "capped" if i == 2 else "relay",
                     "cap-day" if i == 2 else None,
                     None if i == 2 else "probe.test", 0 if i == 2 else 1,
                     250 if delivered else (None if i == 2 else 451),
                     at + dt.timedelta(seconds=5) if delivered else None))


def test_notebook_runs_and_draws(reports, pg, tmp_path):  # noqa: F811
    add_relay_traffic(reports)
    assert reports.execute(
        "SELECT sum(probes), sum(deliveries) FROM spamlab.relay_daily"
    ).fetchone() == (6, 2)
    assert reports.execute(
        "SELECT count(*) FROM spamlab.top_dialects(10)").fetchone()[0] >= 3
    for v in ("report_auth_daily", "report_auth_account",
              "report_auth_password"):
        reports.execute(f"REFRESH MATERIALIZED VIEW spamlab.{v}")
    assert reports.execute("SELECT sum(attempts) FROM"
                           " spamlab.report_auth_daily").fetchone()[0] > 100
    nb = nbformat.read(TOP / "notebooks" / "spamlab.ipynb", as_version=4)
    env = {"SPAMLAB_DSN": pg.dsn(reports.info.dbname),
           "SPAMLAB_FIGURES": str(tmp_path)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(TOP / "notebooks")}}
                                ).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    made = {p.stem for p in pathlib.Path(tmp_path).glob("*.png")}
    assert FIGURES <= made, f"missing figures: {FIGURES - made}"
    for p in tmp_path.glob("*.png"):
        assert p.stat().st_size > 5000, f"{p.name} looks empty"
    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
