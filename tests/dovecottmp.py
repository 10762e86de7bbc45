"""A throwaway Dovecot IMAP server on 127.0.0.1 for the IMAP import tests.

Everything lives in one temporary directory: the configuration, a
passwd-file with the test accounts, a self-signed certificate (for imaps://
and STARTTLS), the Maildirs and Dovecot's runtime files.  Nothing under /etc
or /var is read or written.  Dovecot runs as an unprivileged user: the
caller when it is not root, else `nobody` (the directory is handed to it).
stop() kills the server and removes the directory, also after a failure.
"""
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONF = """\
# spamlab test server: all paths below {dir}
instance_name = spamlab-{port}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
shutdown_clients = yes
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = 0
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Junk {{
    {su}special_use = \\Junk
    auto = create
  }}
  mailbox Sent {{
    {su}special_use = \\Sent
    auto = create
  }}
  mailbox Trash {{
    {su}special_use = \\Trash
    auto = create
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
{imaps}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {user}
}}
service auth-worker {{
  user = {user}
}}
service imap {{
  process_limit = 16
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    """A running Dovecot; accounts maps user name -> password.  With
    ssl=False it offers neither STARTTLS nor imaps (tls_port is None); with
    special_use=False its folders carry no \\Junk, \\Sent, \\Trash flags."""

    def __init__(self, accounts, ssl=True, special_use=True, cert=None,
                 key=None):
        """cert, key: PEM files to serve (a chain: leaf first) instead of
        a fresh self-signed certificate for localhost."""
        self.ssl = ssl
        self.cert, self.key = cert, key
        self.special_use = special_use
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="spamlab-dovecot."))
        self.proc = None
        try:
            self._start(accounts)
        except BaseException:
            self.stop()
            raise

    def _start(self, accounts):
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
        else:
            pw = pwd.getpwuid(os.geteuid())
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        d = self.dir
        for sub in ("run", "state", "mail", "home"):
            (d / sub).mkdir()
        (d / "passwd").write_text(
            "".join(f"{u}:{{PLAIN}}{p}\n" for u, p in accounts.items()))
        if self.cert:
            shutil.copy(self.cert, d / "cert.pem")
            shutil.copy(self.key, d / "key.pem")
        else:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-days", "2", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost",
                 "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
                check=True, capture_output=True)
        self.cafile = d / "cert.pem"
        self.port = free_port()
        self.tls_port = free_port() if self.ssl else None
        if self.ssl:
            ssl = (f"ssl = yes\nssl_cert = <{d}/cert.pem\n"
                   f"ssl_key = <{d}/key.pem")
            imaps = ("  inet_listener imaps {\n    address = 127.0.0.1\n"
                     f"    port = {self.tls_port}\n    ssl = yes\n  }}")
        else:
            ssl, imaps = "ssl = no", ""

        group = subprocess.run(["id", "-gn", str(self.uid)], check=True,
                               capture_output=True, text=True).stdout.strip()
        (d / "dovecot.conf").write_text(CONF.format(
            dir=d, port=self.port, ssl=ssl, imaps=imaps, user=pw.pw_name,
            su="" if self.special_use else "# ",
            group=group, uid=self.uid, gid=self.gid))
        os.chmod(d, 0o755)
        if os.geteuid() == 0:
            for root, dirs, files in os.walk(d):
                for n in dirs + files:
                    os.chown(os.path.join(root, n), self.uid, self.gid)
            os.chown(d, self.uid, self.gid)
        cmd = [DOVECOT, "-F", "-c", str(d / "dovecot.conf")]
        if os.geteuid() == 0:
            cmd = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                   "--clear-groups", "--"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        for port in filter(None, (self.port, self.tls_port)):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("dovecot exited: "
                                       + self.proc.stderr.read().decode()
                                       + self.log())
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("dovecot did not listen:\n"
                                           + self.log())
                    time.sleep(0.05)

    def log(self):
        try:
            return (self.dir / "dovecot.log").read_text(errors="replace")
        except OSError:
            return ""

    def maildir(self, user):
        return self.dir / "mail" / user

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
