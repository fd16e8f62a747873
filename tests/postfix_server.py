"""A throwaway Postfix relay on loopback (Debian's ``postfix``), for a DSN a real MTA writes.

:func:`postfix_relay` starts ``postfix -c <dir> start`` with a config of its own in a temp dir
(its own queue, data directory and log file; no local delivery, no DNS): it listens on a
free loopback port and relays everything to ``next_hop`` (an aiosmtpd server of the test).
When the next hop refuses a recipient, Postfix's bounce daemon writes the RFC 3464 DSN and
relays it, to the envelope sender, through the same next hop. Postfix must run as root; the
test is skipped when it is not installed (``apt-get install postfix``) or not root.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTFIX = shutil.which("postfix") or (
    "/usr/sbin/postfix" if Path("/usr/sbin/postfix").exists() else None
)

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.relay.test
mydomain = relay.test
myorigin = relay.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{next_hop}
smtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = {root}/maillog
notify_classes =
smtp_tls_security_level = none
smtpd_tls_security_level = none
biff = no
"""


def require_postfix() -> str:
    if POSTFIX is None or not Path("/etc/postfix/master.cf").exists():
        pytest.skip("postfix is not installed (apt-get install postfix)")
    if os.geteuid() != 0:
        pytest.skip("postfix runs as root only")
    return POSTFIX


@contextmanager
def postfix_relay(port: int, next_hop: int) -> Iterator[Path]:
    """Postfix on 127.0.0.1:``port`` relaying to 127.0.0.1:``next_hop``; yields its folder."""
    postfix = require_postfix()
    root = Path(tempfile.mkdtemp(prefix="digest-postfix-", dir="/var/tmp"))
    root.chmod(0o755)
    for sub in ("etc", "spool", "data"):
        (root / sub).mkdir()
    shutil.chown(root / "data", "postfix")
    (root / "etc" / "main.cf").write_text(MAIN_CF.format(root=root, next_hop=next_hop))
    master = Path("/etc/postfix/master.cf").read_text()
    listen = f"127.0.0.1:{port} inet n - n - - smtpd"
    (root / "etc" / "master.cf").write_text(re.sub(r"(?m)^smtp\s+inet\s.*$", listen, master))
    run = [postfix, "-c", str(root / "etc")]
    subprocess.run([*run, "start"], check=True, capture_output=True, timeout=60)
    try:
        _wait_listening(port)
        yield root
    finally:
        subprocess.run([*run, "stop"], check=False, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"postfix did not listen on 127.0.0.1:{port}")
