"""bench/smtpload.c, the load generator of bench/ingest: its counts and
exit status are what the benchmark trusts, so they are checked against a
real ingestd (which also exercises many concurrent, pipelining clients:
every message in PostgreSQL exactly once, every byte as sent)."""
import re
import subprocess

import pytest

from conftest import TOP
from ingestd_helpers import INGESTD, Ingestd, free_port

pytestmark = pytest.mark.skipif(not INGESTD.exists(), reason="ingestd not built")

SMTPLOAD_SRC = TOP / "bench" / "smtpload.c"


@pytest.fixture(scope="module")
def smtpload(tmp_path_factory):
    out = tmp_path_factory.mktemp("smtpload") / "smtpload"
    subprocess.run(["cc", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror",
                    "-o", str(out), str(SMTPLOAD_SRC)], check=True)
    return out


@pytest.fixture(scope="module")
def daemon(pg, tmp_path_factory):
    d = Ingestd(pg, tmp_path_factory.mktemp("ingestd"), "smtpload_module",
                max_sessions_per_ip=200)
    d.start()
    yield d
    assert d.stop() == 0


def run(smtpload, *args):
    p = subprocess.run([str(smtpload), *map(str, args)], capture_output=True,
                       text=True, timeout=120)
    m = dict(re.findall(r"(\w+)=([\d.]+)", p.stdout))
    return p.returncode, m


@pytest.mark.parametrize("mode", [[], ["-d"], ["-d", "-P"], ["-P"]],
                         ids=["one", "many", "many_pipelining", "one_pipelining"])
def test_every_message_stored_once(smtpload, daemon, db, mode):
    before = db.execute("SELECT count(*) FROM spamlab.message WHERE sensor"
                        " = %s", (daemon.sensor,)).fetchone()[0]
    rc, m = run(smtpload, "-s", 20, "-m", 300, "-l", 4096, *mode,
                f"127.0.0.1:{daemon.port}")
    assert rc == 0, m
    assert (m["messages"], m["accepted"], m["failed"]) == ("300", "300", "0")
    assert m["connections"] == ("20" if "-d" in mode else "300")
    daemon.wait_rows(db, before + 300)
    rows = db.execute("SELECT raw, size FROM spamlab.message WHERE sensor = %s"
                      " ORDER BY received_at DESC, id DESC LIMIT 300",
                      (daemon.sensor,)).fetchall()
    # the same generated message every time: -l bytes, the dot line not in it
    raws = {bytes(r[0]) for r in rows}
    assert len(raws) == 1 and all(r[1] == 4096 for r in rows)
    raw = raws.pop()
    assert raw.startswith(b"From: <src@spam.example>\r\n")
    assert len(raw) == 4096 and raw.endswith(b"\r\n")
    assert b"\r\n.\r\n" not in raw
    assert daemon.wait_rows(db, before + 300) == before + 300


def test_exit_status_when_messages_are_not_accepted(smtpload, daemon):
    # nothing listening: every message fails, exit 1
    rc, m = run(smtpload, "-s", 3, "-m", 10, f"127.0.0.1:{free_port()}")
    assert rc == 1
    assert (m["accepted"], m["failed"], m["connect_errors"]) == ("0", "10", "10")
    # messages over ingestd's size limit get 552: failed, exit 1
    small = Ingestd(daemon.pg, daemon.workdir / "small", "smtpload_small",
                    max_message_size="1k")
    small.start()
    try:
        rc, m = run(smtpload, "-s", 2, "-m", 4, "-l", 4096, "-d",
                    f"127.0.0.1:{small.port}")
    finally:
        assert small.stop() == 0
    assert rc == 1 and m["accepted"] == "0" and m["failed"] == "4"
