"""A throwaway Dovecot IMAP server on loopback (Debian's ``dovecot-imapd``), as a pytest plugin.

The ``dovecot`` fixture starts ``dovecot -F -c <conf>`` with a config of its own in a temp dir:
no system config, a passwd-file with one plaintext test user, a Maildir, its base and state
dirs, and a throwaway certificate (from conftest's ``tls_ca``) so that the plain port offers
STARTTLS and a second port speaks implicit TLS. Run as root, the login and internal processes
run as Debian's ``dovenull``/``dovecot`` users and the mail as ``nobody`` (Dovecot refuses
mail access as root); run as anyone else, everything runs as that user. The server is stopped
at the end of the test. When dovecot is not installed the test is skipped, unless
DIGEST_REQUIRE_TOOLS=1 (as in CI), then it fails.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
USER, PASSWORD = "bounces", "imap test password"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = 1
last_valid_uid = 0
mail_location = maildir:~/Maildir
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
"""


@dataclass
class Dovecot:
    """A running server: where it listens, its one user, and a few direct operations."""

    host: str
    port: int  # plain IMAP, STARTTLS offered
    tls_port: int  # implicit TLS (imaps)
    user: str
    password: str
    root: Path
    client_context: ssl.SSLContext  # trusts the server's throwaway certificate

    def client(self) -> IMAPClient:
        """A logged-in client on the plain port."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, folder: str, *messages: bytes) -> None:
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for message in messages:
                client.append(folder, message)

    def uids(self, folder: str) -> list[int]:
        """The UIDs in ``folder`` not flagged \\Deleted ([] when there is no such folder)."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search(["NOT", "DELETED"]))

    def messages(self, folder: str) -> list[bytes]:
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            found = client.fetch(client.search(["NOT", "DELETED"]), ["BODY.PEEK[]"])
            return [found[uid][b"BODY[]"] for uid in sorted(found)]

    def uidvalidity(self, folder: str) -> int:
        with self.client() as client:
            value: int = client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"]
            return value

    def recreate(self, folder: str) -> None:
        """Deletes ``folder`` and makes it again: a new UIDVALIDITY, UIDs from 1 again."""
        with self.client() as client:
            client.delete_folder(folder)
            client.create_folder(folder)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _accounts(root: Path) -> dict[str, Any]:
    """Who runs what: Debian's dovecot users and ``nobody`` as root, else the current user."""
    if os.getuid() != 0:
        me = pwd.getpwuid(os.getuid())
        return {
            "internal_user": me.pw_name,
            "login_user": me.pw_name,
            "uid": me.pw_uid,
            "gid": me.pw_gid,
        }
    try:
        pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull")
    except KeyError:
        pytest.fail("dovecot is installed but its users dovecot and dovenull are missing")
    nobody = pwd.getpwnam("nobody")
    return {
        "internal_user": "dovecot",
        "login_user": "dovenull",
        "uid": nobody.pw_uid,
        "gid": nobody.pw_gid,
    }


def _write_setup(root: Path, ca: trustme.CA, port: int, tls_port: int) -> None:
    accounts = _accounts(root)
    home = root / "home"
    home.mkdir()
    os.chown(home, accounts["uid"], accounts["gid"])
    for name in ("run", "state"):
        (root / name).mkdir()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(root / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    (root / "passwd").write_text(
        f"{USER}:{{PLAIN}}{PASSWORD}:{accounts['uid']}:{accounts['gid']}::{home}::\n"
    )
    config = CONFIG.format(
        root=root,
        port=port,
        tls_port=tls_port,
        internal_user=accounts["internal_user"],
        login_user=accounts["login_user"],
    )
    (root / "dovecot.conf").write_text(config)


def _wait_for(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    log = (
        (root / "dovecot.log").read_text(errors="replace")
        if (root / "dovecot.log").exists()
        else ""
    )
    err = (
        process.stderr.read().decode(errors="replace")
        if process.stderr and process.poll() is not None
        else ""
    )
    pytest.fail(f"dovecot did not start on port {port}: {err}{log}")


@pytest.fixture
def dovecot(tls_ca: trustme.CA) -> Iterator[Dovecot]:
    """A throwaway Dovecot on free loopback ports, with one user and an empty Maildir."""
    if DOVECOT is None:
        if os.environ.get("DIGEST_REQUIRE_TOOLS") == "1":
            pytest.fail(
                "dovecot is not installed (apt-get install dovecot-imapd); DIGEST_REQUIRE_TOOLS=1"
            )
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
    root.chmod(0o755)  # the mail user (not us, as root) reaches its home under it
    process: subprocess.Popen[bytes] | None = None
    try:
        port, tls_port = _free_ports(2)
        _write_setup(root, tls_ca, port, tls_port)
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_for(port, process, root)
        context = ssl.create_default_context()
        tls_ca.configure_trust(context)
        yield Dovecot("127.0.0.1", port, tls_port, USER, PASSWORD, root, context)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)
