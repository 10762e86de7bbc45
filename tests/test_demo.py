"""The README's main command, reduced: tools/demo on a private cluster with
free ports, twice, then stopped with nothing left running."""
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import SHARED, TOP


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_env(pg):
    var = tempfile.mkdtemp(prefix="spamlab-demo.", dir="/tmp")
    os.chmod(var, 0o755)
    env = {**os.environ,
           "SPAMLAB_VAR": var,
           "SPAMLAB_PGBIN": pg.env["SPAMLAB_PGBIN"],  # this checkout's extension
           "SPAMLAB_PORT": str(free_port()),
           "SPAMLAB_SMTP_PORT": str(free_port()),
           "SPAMLAB_METRICS_PORT": str(free_port()),
           "SPAMLAB_DEMO_COUNT": "120"}
    for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        env.pop(k, None)
    geo = SHARED / "testdata" / "mmdb" / "test-data"
    if geo.is_dir():
        d = os.path.join(var, "testgeo")
        os.mkdir(d)
        os.symlink(geo / "GeoIP2-City-Test.mmdb", os.path.join(d, "city.mmdb"))
        os.symlink(geo / "GeoLite2-ASN-Test.mmdb", os.path.join(d, "asn.mmdb"))
        env["SPAMLAB_DEMO_GEOIP"] = d
    else:
        env["SPAMLAB_DEMO_GEOIP"] = "skip"
    yield env
    subprocess.run([str(TOP / "tools" / "democluster"), "stop"], env=env,
                   capture_output=True)
    shutil.rmtree(var, ignore_errors=True)


def count(env):
    out = subprocess.run(
        ["psql", "-X", "-At", "-h", os.path.join(env["SPAMLAB_VAR"], "run"),
         "-p", env["SPAMLAB_PORT"], "-U", "postgres", "-d", "spamlab", "-c",
         "SELECT count(*), (SELECT count(*) FROM spamlab.message_fact)"
         " FROM spamlab.message"], capture_output=True, text=True, check=True)
    return tuple(map(int, out.stdout.strip().split("|")))


def test_demo_collects_analyses_and_stops(demo_env):
    demo = str(TOP / "tools" / "demo")
    out = subprocess.run([demo], env=demo_env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for title in ("Messages per day", "Origin countries", "Advertised domains",
                  "Replies, spam against ham",
                  "Accounts bots tried to log in with"):
        assert title in out.stdout
    first, enriched = count(demo_env)
    assert first >= 2 * 120 and enriched == first
    figs = os.listdir(os.path.join(demo_env["SPAMLAB_VAR"], "figures"))
    assert {"volume_per_day.png", "origin_country.png", "replies.png",
            "auth_daily.png"} <= set(figs)

    # running it again works and adds this run's SMTP stream only
    out = subprocess.run([demo], env=demo_env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    second, enriched = count(demo_env)
    assert second >= first + 120 and enriched == second

    stop = subprocess.run([str(TOP / "tools" / "democluster"), "stop"],
                          env=demo_env, capture_output=True, text=True)
    assert stop.returncode == 0
    left = subprocess.run(["pgrep", "-f", demo_env["SPAMLAB_VAR"]],
                          capture_output=True, text=True).stdout.split()
    assert not left, f"processes left running: {left}"
