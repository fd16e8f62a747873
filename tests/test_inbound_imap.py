"""``digest inbound --imap`` against a real Dovecot on loopback: a real send to a relay
(aiosmtpd), the relay's DSNs and an ARF report dropped into the IMAP folder, then the
readers' states, what moved and what stayed, a second run, and a UIDVALIDITY change."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from dovecot_server import PASSWORD, Dovecot
from imapclient import IMAPClient
from returned_mail import READERS, SECRET, UNKNOWN, arf, dsn, returned

from digest.config import Config, load_config
from digest.errors import InputError
from digest.inbound.imap import make_client
from digest.models import Status
from digest.pipeline.inbound_imap import position_file, read_imap
from digest.schedule.scheduler import Scheduler
from digest.store import open_store

#: Each test starts a Dovecot and makes a real send through a relay: about 4 s apiece.
pytestmark = pytest.mark.slow

INBOUND = """\
inbound:
  imap:
    host: 127.0.0.1
    port: {port}
    tls: {tls}
    user: {user}
    folder: {folder}
{more}"""


def configure(tmp_path: Path, dovecot: Dovecot, folder: str = "INBOX", **options: Any) -> Config:
    """The sent config, with inbound.imap pointing at ``dovecot``."""
    path = tmp_path / "schedules.yaml"
    tls = options.pop("tls", "none")
    port = options.pop("port_override", dovecot.tls_port if tls == "ssl" else dovecot.port)
    more = "".join(f"    {key}: {value}\n" for key, value in options.items())
    inbound = INBOUND.format(port=port, tls=tls, user=dovecot.user, folder=folder, more=more)
    text = path.read_text().split("inbound:\n")[0]
    path.write_text(text + inbound)
    return load_config(path, {"DIGEST_IMAP_PASSWORD": dovecot.password, "DIGEST_SECRET": SECRET})


def statuses(config: Config) -> dict[str, Status]:
    store = open_store(config.store_path)
    found = {}
    for reader in READERS:
        subscriber = store.get_subscriber(reader)
        assert subscriber is not None
        found[reader] = subscriber.status
    return found


def test_returned_mail_in_imap_changes_the_readers_and_moves_what_was_read(
    sent: dict[str, tuple[str, str]],
    dovecot: Dovecot,
    tmp_path: Path,
) -> None:
    dovecot.append("INBOX", *returned(sent))
    config = configure(tmp_path, dovecot)
    out = "\n".join(read_imap(config, open_store(config.store_path)).lines())
    assert "4 new, 3 moved" in out
    assert "left in the folder: imap INBOX uid 4" in out
    store = open_store(config.store_path)
    assert statuses(config)[READERS[1]] is Status.COMPLAINED
    kinds = {(e.email, e.kind.value) for e in store.mail_events()}
    assert kinds == {
        (READERS[0], "hard bounce"),
        (READERS[1], "complaint"),
        (READERS[2], "soft bounce"),
    }
    assert [e.status for e in store.mail_events() if e.email == READERS[0]] == ["5.1.1"]
    assert dovecot.messages("INBOX") == [UNKNOWN]  # the unclassified one stayed, untouched
    assert len(dovecot.uids("digest-processed")) == 3
    # the second run reads nothing new and changes nothing
    again = read_imap(config, store)
    assert again.reports == ()
    assert "no new messages" in again.lines()[0]
    assert len(store.mail_events()) == 3
    assert dovecot.messages("INBOX") == [UNKNOWN]


@pytest.mark.parametrize(("bounce_limit", "status"), [(2, Status.CONFIRMED), (1, Status.BOUNCED)])
def test_a_hard_bounce_counts_toward_the_bounce_limit(
    sent: dict[str, tuple[str, str]],
    dovecot: Dovecot,
    tmp_path: Path,
    bounce_limit: int,
    status: Status,
) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(
        path.read_text().replace(
            "  retries: 2\n", f"  retries: 2\n  bounce_limit: {bounce_limit}\n"
        )
    )
    config = configure(tmp_path, dovecot)
    ada = sent[READERS[0]]
    dovecot.append("INBOX", dsn(*ada, READERS[0], "5.1.1", "550 5.1.1 user unknown"))
    run = read_imap(config, open_store(config.store_path))
    assert [r.outcome.value for r in run.reports] == ["recorded"]
    assert statuses(config)[READERS[0]] is status


def test_a_new_uidvalidity_reads_the_folder_again_from_the_start(
    sent: dict[str, tuple[str, str]], dovecot: Dovecot, tmp_path: Path
) -> None:
    config = configure(tmp_path, dovecot, folder="bounces")
    dovecot.append("bounces", *returned(sent)[:2], UNKNOWN)
    store = open_store(config.store_path)
    first = read_imap(config, store)
    assert (len(first.reports), len(first.left), first.restarted) == (3, 1, False)
    before = dovecot.uidvalidity("bounces")
    dovecot.recreate("bounces")  # the server renumbered the folder: UIDs start at 1 again
    assert dovecot.uidvalidity("bounces") != before
    cy = sent[READERS[2]]
    dovecot.append("bounces", dsn(*cy, READERS[2], "5.1.1", "550 5.1.1 no such user"), UNKNOWN)
    again = read_imap(config, store)
    assert again.restarted
    assert [r.outcome.value for r in again.reports] == ["recorded", "unclassified"]
    assert "UIDVALIDITY changed" in " ".join(again.lines())
    assert dovecot.messages("bounces") == [UNKNOWN]
    assert read_imap(config, store).reports == ()
    assert position_file(config).is_file()


def test_the_same_report_twice_counts_once(
    sent: dict[str, tuple[str, str]], dovecot: Dovecot, tmp_path: Path
) -> None:
    config = configure(tmp_path, dovecot, batch=1)
    bob = sent[READERS[1]]
    dovecot.append("INBOX", arf(bob[1], READERS[1]), arf(bob[1], READERS[1]))
    run = read_imap(config, open_store(config.store_path))
    assert [r.outcome.value for r in run.reports] == ["recorded", "duplicate"]
    assert dovecot.uids("INBOX") == []
    assert len(dovecot.uids("digest-processed")) == 2


class WithoutMove(IMAPClient):
    """A client that does not see the server's MOVE (and, with ``uidplus=False``, UIDPLUS)."""

    hidden: tuple[str, ...] = ("MOVE",)

    def has_capability(self, capability: str) -> bool:
        return capability.upper() not in self.hidden and bool(super().has_capability(capability))


@pytest.mark.parametrize("hidden", [("MOVE",), ("MOVE", "UIDPLUS")])
def test_without_move_only_the_processed_messages_are_expunged(
    sent: dict[str, tuple[str, str]], dovecot: Dovecot, tmp_path: Path, hidden: tuple[str, ...]
) -> None:
    config = configure(tmp_path, dovecot)
    ada = sent[READERS[0]]
    dovecot.append("INBOX", UNKNOWN, dsn(*ada, READERS[0], "5.1.1", "550 5.1.1 unknown"))
    with dovecot.client() as client:  # the operator flagged their own message \Deleted
        client.select_folder("INBOX")
        client.add_flags([1], [b"\\Deleted"])

    def connect(imap: Any) -> IMAPClient:
        client = WithoutMove(imap.host, imap.port, ssl=False, timeout=10)
        client.hidden = hidden
        return client

    run = read_imap(config, open_store(config.store_path), connect=connect)
    assert [r.outcome.value for r in run.reports] == ["recorded"]  # uid 1 is \Deleted: skipped
    assert len(dovecot.uids("digest-processed")) == 1
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        remaining = client.search(["ALL"])
        deleted = client.search(["DELETED"])
    if "UIDPLUS" in hidden:  # no way to expunge one UID while uid 1 is \Deleted: both stay
        assert (remaining, deleted) == ([1, 2], [1, 2])
    else:
        assert (remaining, deleted) == ([1], [1])  # the operator's message was not expunged


@pytest.mark.parametrize("tls", ["ssl", "starttls"])
def test_imap_over_tls_with_a_private_ca(
    sent: dict[str, tuple[str, str]], dovecot: Dovecot, tmp_path: Path, tls: str, tls_ca: Any
) -> None:
    ca = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca))
    config = configure(tmp_path, dovecot, tls=tls, ca_file=str(ca))
    dovecot.append("INBOX", arf(sent[READERS[1]][1], READERS[1]))
    run = read_imap(config, open_store(config.store_path))
    assert [r.outcome.value for r in run.reports] == ["recorded"]


def test_an_untrusted_certificate_or_a_wrong_password_is_one_error(
    sent: dict[str, tuple[str, str]], dovecot: Dovecot, tmp_path: Path
) -> None:
    config = configure(tmp_path, dovecot, tls="ssl")
    store = open_store(config.store_path)
    with pytest.raises(InputError, match="TLS failed during connect"):
        read_imap(config, store)
    config = configure(tmp_path, dovecot)
    imap = config.inbound.imap
    assert imap is not None
    wrong = config.inbound.__class__(
        soft_bounce_limit=config.inbound.soft_bounce_limit,
        imap=imap.__class__(**{**_fields(imap), "password": "not the password"}),
        webhooks=config.inbound.webhooks,
    )
    with pytest.raises(InputError, match="login failed") as failed:
        read_imap(config.__class__(**{**_fields(config), "inbound": wrong}), store)
    assert "not the password" not in str(failed.value)
    assert dovecot.password not in str(failed.value)


def test_an_unreachable_server_is_one_error(dovecot: Dovecot, tmp_path: Path) -> None:
    config_path = tmp_path / "schedules.yaml"
    config_path.write_text(
        "sender: {from: papers@example.org, postal_address: x}\n"
        "inbound: {imap: {host: 127.0.0.1, port: 1, tls: none, user: u}}\n"
    )
    config = load_config(config_path, {"DIGEST_IMAP_PASSWORD": "pw"})
    assert config.inbound.imap is not None
    with pytest.raises(InputError, match=r"IMAP u@127.0.0.1:1 INBOX: connect failed"):
        make_client(config.inbound.imap)


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def test_serve_polls_the_folder_when_inbound_imap_is_configured(
    sent: dict[str, tuple[str, str]], dovecot: Dovecot, tmp_path: Path
) -> None:
    config = configure(tmp_path, dovecot, poll_minutes=2)
    store = open_store(config.store_path)
    dovecot.append("INBOX", arf(sent[READERS[1]][1], READERS[1]))
    scheduler = Scheduler(config, store=store)
    scheduler.start()  # the job runs once at start, then every poll_minutes
    try:
        job = scheduler.jobs()["inbound-imap"]
        assert job.trigger.interval.total_seconds() == 120
        deadline = time.monotonic() + 20
        while not dovecot.uids("digest-processed") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        scheduler.stop()
    assert dovecot.uids("INBOX") == []
    assert [e.kind.value for e in store.mail_events()] == ["complaint"]
    unreachable = configure(tmp_path, dovecot, port_override=1)
    assert Scheduler(unreachable, store=store).read_imap() is None  # logged, not raised


def test_digest_inbound_imap_on_the_command_line(
    sent: dict[str, tuple[str, str]],
    dovecot: Dovecot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dovecot.append("INBOX", *returned(sent))
    config = configure(tmp_path, dovecot)
    args = ["--config", str(config.path), "inbound", "--imap"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("INBOX: 4 new, 3 moved")
    assert f"hard bounce 5.1.1: {READERS[0]} (daily/2025-11-26) from imap INBOX uid 1" in lines
    assert f"complaint: {READERS[1]} (daily/2025-11-26) from imap INBOX uid 2" in lines
    assert any(line.startswith("left in the folder: imap INBOX uid 4: ") for line in lines)
    code, out, err = run_cli(args, capsys)
    assert (code, out.splitlines()[0][-15:]) == (0, "no new messages")
    wrong = configure(tmp_path, dovecot, port_override=1)
    code, out, err = run_cli(["--config", str(wrong.path), "inbound", "--imap"], capsys)
    assert code == 1
    assert err.startswith("Error: IMAP bounces@127.0.0.1:1 INBOX: connect failed")
    assert "Traceback" not in err and PASSWORD not in err + out


def test_one_reader_of_the_folder_at_a_time(
    sent: dict[str, tuple[str, str]], dovecot: Dovecot, tmp_path: Path
) -> None:
    config = configure(tmp_path, dovecot)
    store = open_store(config.store_path)
    dovecot.append("INBOX", arf(sent[READERS[1]][1], READERS[1]))
    with store.exclusive("inbound-imap"), pytest.raises(InputError, match="another digest"):
        read_imap(config, open_store(config.store_path))
    assert dovecot.uids("INBOX") == [1]
    assert [r.outcome.value for r in read_imap(config, store).reports] == ["recorded"]
