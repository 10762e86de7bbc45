"""The throwaway cluster every test layer uses: isolated, and always gone."""
import os
import subprocess
import time

import pytest

from conftest import PGTMP, PgCluster


def postmasters_in(path):
    out = subprocess.run(["pgrep", "-f", "--", path + "/"],
                         capture_output=True, text=True)
    return out.stdout.split()


def test_cluster_runs_unprivileged_on_socket_and_loopback(pg):
    with pg.connect() as c:
        user = c.execute("SELECT current_setting('data_directory')").fetchone()[0]
        assert user.startswith(pg.dir)
        listen = c.execute("SHOW listen_addresses").fetchone()[0]
        assert listen == "127.0.0.1"
        sock = c.execute("SHOW unix_socket_directories").fetchone()[0]
        assert sock.startswith(pg.dir)
    owner = os.stat(os.path.join(pg.dir, "data")).st_uid
    assert owner != 0, "the server must not run as root"


def test_tcp_loopback_connection(pg):
    import psycopg
    with psycopg.connect(host="127.0.0.1", port=pg.port, user="postgres",
                         dbname="spamlab") as c:
        assert c.execute("SELECT spamlab.version()").fetchone()[0]


def test_extension_comes_from_this_checkout(pg):
    """The server sees the extension from the cluster's private install."""
    with pg.connect() as c:
        sharedir = c.execute(
            "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'").fetchone()[0]
    assert sharedir.startswith(pg.dir)
    assert os.path.exists(os.path.join(sharedir, "extension", "spamlab.control"))


def test_two_clusters_at_once_do_not_collide(pg):
    other = PgCluster(schema=False)
    try:
        assert other.port != pg.port and other.dir != pg.dir
        with other.connect() as a, pg.connect() as b:
            a.execute("CREATE TABLE only_here (x int)")
            assert b.execute(
                "SELECT to_regclass('only_here')").fetchone()[0] is None
    finally:
        other.stop()
    assert not os.path.exists(other.dir or "/nonexistent-dir")


def test_stop_leaves_no_process_and_no_directory():
    c = PgCluster(schema=False)
    d = c.dir
    assert postmasters_in(d), "the postmaster should be running"
    c.stop()
    assert not postmasters_in(d)
    assert not os.path.exists(d)


@pytest.mark.parametrize("rc", [0, 3])
def test_run_passes_exit_status_and_cleans_up_on_failure(rc, tmp_path):
    marker = tmp_path / "dir"
    script = f'echo "$SPAMLAB_PGTMP" > {marker}; psql -X -qAt -c "SELECT 1"; exit {rc}'
    out = subprocess.run([str(PGTMP), "run", "--", "bash", "-c", script],
                         capture_output=True, text=True)
    assert out.returncode == rc
    assert out.stdout.strip() == "1"
    d = marker.read_text().strip()
    assert d and not os.path.exists(d)
    assert not postmasters_in(d)


def test_run_cleans_up_when_killed(tmp_path):
    marker = tmp_path / "dir"
    p = subprocess.Popen([str(PGTMP), "run", "--", "bash", "-c",
                          f'echo "$SPAMLAB_PGTMP" > {marker}; sleep 60'])
    # starting a cluster can take long on a loaded machine
    for _ in range(1200):
        if marker.exists() and marker.read_text().strip():
            break
        time.sleep(0.1)
    d = marker.read_text().strip()
    assert d, "the cluster did not start within 120 s"
    p.terminate()
    p.wait(timeout=30)
    assert not os.path.exists(d)
    assert not postmasters_in(d)
