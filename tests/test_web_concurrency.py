"""Nothing is lost when readers subscribe and unsubscribe while a send runs, tested with
real processes on one store file: ``digest send`` mailing 150 readers through a slow relay,
``digest serve`` taking subscribe, confirm and one-click unsubscribe requests over HTTP,
another process writing the store directly, and ``digest subscribers add`` runs, all at once.

What is racy is only checked to be safe (a reader who unsubscribes while the send runs gets
the edition at most once); what is guaranteed is checked exactly. The send reads its
recipients once, at its start, and re-reads the suppressed addresses when the store has
changed, at most ``every`` seconds apart (SuppressionWatch): so a reader whose message the
send came to ``every`` seconds after their unsubscribe was answered must be skipped. When
the send came to a message is not seen from outside, but it has a lower bound: with C
connections, message p is taken only once p - C + 1 of the earlier ones are settled, so
after the relay accepted p - C + 1 - (earlier ones skipped) messages. So that the send comes
to most of those readers long enough after, the relay holds every connection (a stall) from
just before the unsubscribes until ``every`` seconds after the last one was answered."""

from __future__ import annotations

import asyncio
import email
import email.policy
import inspect
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SAMPLE, Script, current_store, free_port, running

from digest.links import UNSUBSCRIBE, make_token
from digest.models import DeliveryStatus, Status, Subscriber
from digest.send.suppression import SuppressionWatch
from digest.store import TinyStore

#: Runs once per store backend (TinyDB, PostgreSQL): see conftest.each_store.
pytestmark = pytest.mark.usefixtures("each_store")
SECRET = "test-secret-0123456789abcdefghijklmn"
EDITION = "daily/2025-11-26"
SEND = ("send", "--date", "2025-11-26", "--source", str(SAMPLE))
CONNECTIONS = 4
#: How long a send may go on with a suppressed set it has not reloaded (its default).
EVERY: float = inspect.signature(SuppressionWatch.__init__).parameters["every"].default
MARGIN = 1.0  # for the reload's own wait for the store lock

READERS = [f"reader{n:03}@example.org" for n in range(150)]  # confirmed before the send
BEFORE = sorted(READERS[n] for n in (3, 20, 77, 100, 140))  # unsubscribe before it starts
STALL = {READERS[n] for n in range(44, 48)}  # the relay holds these: every connection waits
DURING = [r for r in READERS[10::5] if r not in {*BEFORE, *STALL}]  # unsubscribe meanwhile
NEW = [f"new{n:02}@example.net" for n in range(40)]  # subscribe on the web form meanwhile
CONFIRM = NEW[::4]  # ... and of those, confirm through the link in their email
CLI_ADDED = [f"cli{n}@example.com" for n in range(3)]  # digest subscribers add, meanwhile
HOLD_SECONDS = 30.0  # the longest the relay holds them, whatever happens
DATA_SECONDS = 0.05  # the relay's answer to each reader's DATA
WEB = "web:\n  per_client_per_hour: 10000\n  per_address_per_hour: 100\n"
EDITION_HEADER = b"List-Unsubscribe-Post:"  # editions carry it, confirmation emails do not

#: Another process adding subscribers to the store, one transaction each, until the stop
#: file appears; prints how many (argv: store, stop file).
WRITER = """\
import sys, time
from pathlib import Path
from digest.models import Subscriber
from digest.store import Store, open_store
store, stop = open_store(sys.argv[1]), Path(sys.argv[2])
n = 0
while not stop.exists() and n < 500:
    stored, outcome = store.save_subscriber(Subscriber(f"added{n:03}@example.com", ""))
    assert outcome == "added", (stored, outcome)
    n += 1
    time.sleep(0.05)
print(n)
"""


@dataclass
class TimedRelay(Script):
    """The test relay, also noting when it began and when it accepted each DATA, and holding
    the DATA of the ``hold`` addresses until ``release_at`` (time.monotonic)."""

    began: dict[str, float] = field(default_factory=dict)
    accepted: list[tuple[str, float]] = field(default_factory=list)
    hold: set[str] = field(default_factory=set)
    release_at: float = float("inf")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        to = envelope.rcpt_tos[0]
        self.began.setdefault(to, time.monotonic())
        if to in self.hold:
            limit = time.monotonic() + HOLD_SECONDS
            while time.monotonic() < min(self.release_at, limit):
                await asyncio.sleep(0.01)
        reply: str = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250 Message accepted"):
            self.accepted.append((envelope.rcpt_tos[0], time.monotonic()))
        return reply

    def received(self, editions: bool, to: str | None = None) -> list[tuple[str, bytes]]:
        """(recipient, content) of each edition received, or of each confirmation email."""
        return [
            (rcpts[0], content)
            for _, rcpts, content in list(self.messages)
            if (EDITION_HEADER in content) == editions and to in (None, rcpts[0])
        ]


@contextmanager
def ending(relay: TimedRelay, stop: threading.Event) -> Iterator[list[subprocess.Popen[Any]]]:
    """Whatever happens in the block, after it the relay holds nothing, ``stop`` is set, and
    the processes put in the list yielded have ended."""
    procs: list[subprocess.Popen[Any]] = []
    try:
        yield procs
    finally:
        relay.release_at = 0.0
        stop.set()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def wait_for(what: str, done: Callable[[], object], seconds: float, alive: Any = None) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if alive is not None:
            assert alive.poll() is None, f"process ended while waiting for {what}"
        time.sleep(0.01)


@contextmanager
def serving(config: Path, env: dict[str, str], log: Path, port: int) -> Iterator[str]:
    """``digest serve`` on ``port`` as its own process, answering /healthz; yields its URL."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--no-scheduler", "--port", str(port)],
            env={**env, "DIGEST_CONFIG": str(config)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=1) as probe:

            def healthy() -> bool:
                try:
                    return probe.get(f"{url}/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for("digest serve to answer /healthz", healthy, 30, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def subscribe(url: str, addresses: list[str], more: str, stop: threading.Event) -> list[str]:
    """One browser (its own cookies) subscribing each address through the form, then more
    addresses (``more`` numbered) until ``stop``. Returns every address it subscribed."""
    late = (more.format(n) for n in range(200))
    done: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as browser:
        for address in [*addresses, *late]:
            if len(done) >= len(addresses) and stop.wait(0.02):
                break
            form = {
                "csrf_token": csrf(browser, "/subscribe"),
                "email": address,
                "digests": "daily",
                "topics": "speech",
                "cadence": "daily",
                "timezone": "Europe/Paris",
            }
            answer = browser.post("/subscribe", data=form)
            assert answer.status_code == 200 and "Check your inbox" in answer.text, answer.text
            done.append(address)
    return done


def confirm(url: str, relay: TimedRelay, addresses: list[str]) -> None:
    """Each address's reader opens the link in their confirmation email and confirms."""
    with httpx.Client(base_url=url, timeout=30) as browser:
        for address in addresses:
            wait_for(f"the confirmation to {address}", partial(link_for, relay, address), 30)
            link = link_for(relay, address)
            assert link is not None
            answer = browser.post(link, data={"csrf_token": csrf(browser, link)})
            assert answer.status_code == 200 and "You are subscribed" in answer.text, answer.text


def link_for(relay: TimedRelay, address: str) -> str | None:
    """The confirmation link in the email ``address`` got, if it got one yet."""
    for _, content in relay.received(editions=False, to=address):
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        assert body is not None
        match = re.search(r"https?://[^/\s]+(/confirm/\S+)", body.get_content())
        assert match, body.get_content()
        return match.group(1)
    return None


def unsubscribe(url: str, subs: list[Subscriber]) -> dict[str, float]:
    """A mailbox provider's RFC 8058 POSTs (no cookies), form-urlencoded or multipart, for
    the link's digest or for every digest. Returns when each was answered."""
    answered: dict[str, float] = {}
    with httpx.Client(base_url=url, timeout=30) as provider:
        for sub in subs:
            n = READERS.index(sub.email)
            path = (
                f"/unsubscribe/{make_token(SECRET, UNSUBSCRIBE, sub.id, 'daily' if n % 3 else '')}"
            )
            provider.cookies.clear()
            if n % 2:
                boundary = f"b{n:08}"
                body = (
                    f"--{boundary}\r\n"
                    'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
                    f"One-Click\r\n--{boundary}--\r\n"
                )
                headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
                answer = provider.post(path, content=body, headers=headers)
            else:
                answer = provider.post(path, data={"List-Unsubscribe": "One-Click"})
            assert answer.status_code == 200 and "You are unsubscribed" in answer.text, answer.text
            answered[sub.email] = time.monotonic()
    return answered


def test_subscribes_and_unsubscribes_during_a_send_lose_nothing(
    config_file: Callable[..., Path], tmp_path: Path
) -> None:
    began = time.monotonic()
    relay = TimedRelay(sleep=dict.fromkeys(READERS, DATA_SECONDS), hold=STALL)
    web_port = free_port()
    stop, stop_file = threading.Event(), tmp_path / "stop"
    with running(relay) as smtp_port:
        config = config_file(smtp_host="127.0.0.1", smtp_port=smtp_port, extra=WEB)
        text = config.read_text().replace(
            "https://papers.example.org", f"http://127.0.0.1:{web_port}"
        )
        smtp = f"  timeout: {2 * HOLD_SECONDS:.0f}\n  connections: {CONNECTIONS}\n"
        config.write_text(text.replace("  timeout: 5\n", smtp))
        store = current_store()
        store.save_subscribers(Subscriber(a, "") for a in READERS)
        ids = {s.email: s for s in store.list_subscribers()}
        env = {**os.environ, "DIGEST_SECRET": SECRET}
        cli = [sys.executable, "-m", "digest", "--config", str(config)]
        at: dict[str, float] = {}  # when each step happened

        with (
            serving(config, env, tmp_path / "serve.log", web_port) as url,
            ThreadPoolExecutor(8) as pool,
            ending(relay, stop) as procs,
        ):
            unsubscribe(url, [ids[a] for a in BEFORE])
            assert {store.get_subscriber(a).status for a in BEFORE} == {Status.UNSUBSCRIBED}  # type: ignore[union-attr]

            with (tmp_path / "send.log").open("w") as out:
                sender = subprocess.Popen([*cli, *SEND], env=env, stdout=out, stderr=out)
                procs.append(sender)
            at["send started"] = time.monotonic()
            wait_for("the first edition", lambda: relay.accepted, 30, sender)
            at["first edition"] = time.monotonic()

            # from now until the send ends: the web form, and another process's writes
            browsers = [
                pool.submit(subscribe, url, NEW[n::2], f"late{n}-{{}}@example.net", stop)
                for n in (0, 1)
            ]
            confirming = pool.submit(confirm, url, relay, CONFIRM)
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, os.environ["DIGEST_STORE"], str(stop_file)],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(writer)

            # one-click unsubscribes just as the relay holds every connection, then the CLI
            wait_for("the stall", lambda: STALL & relay.began.keys(), 30, sender)
            at["stall"] = time.monotonic()
            providers = [
                pool.submit(unsubscribe, url, [ids[a] for a in DURING[n::3]]) for n in range(3)
            ]
            answered = {a: t for f in providers for a, t in f.result(timeout=60).items()}
            at["unsubscribed"] = time.monotonic()
            relay.release_at = max(answered.values()) + EVERY + MARGIN
            assert sender.poll() is None, "the unsubscribes must land while the send runs"
            adds = [
                subprocess.Popen([*cli, "subscribers", "add", a], env=env, stdout=subprocess.PIPE)
                for a in CLI_ADDED
            ]
            procs.extend(adds)
            for add in adds:
                added, _ = add.communicate(timeout=60)
                assert add.returncode == 0 and added.startswith(b"added"), added
            at["cli added"] = time.monotonic()

            sender.wait(timeout=60)
            at["send done"] = time.monotonic()
            stop.set()
            stop_file.touch()
            sent_log = (tmp_path / "send.log").read_text()
            assert sender.returncode == 0, sent_log
            confirming.result(timeout=60)
            subscribed = [a for f in browsers for a in f.result(timeout=60)]
            wrote, _ = writer.communicate(timeout=60)
            assert writer.returncode == 0
            added_directly = [f"added{n:03}@example.com" for n in range(int(wrote))]
            wait_for(
                "every confirmation email",
                lambda: len(relay.received(editions=False)) >= len(subscribed),
                30,
            )
        at["serve stopped"] = time.monotonic()
    serve_log = (tmp_path / "serve.log").read_text()

    # the store: every write kept, nobody twice (and a TinyDB file still valid JSON)
    assert set(NEW) <= set(subscribed) and len(subscribed) == len(set(subscribed))
    everyone = READERS + subscribed + added_directly + CLI_ADDED
    if isinstance(store, TinyStore):
        data = json.loads(store.path.read_text(encoding="utf-8"))
        assert len(data["subscribers"]) == len(everyone)
    assert len(store.list_subscribers()) == len(everyone)
    unsubscribed = {*BEFORE, *DURING}
    expected = {a: Status.UNSUBSCRIBED if a in unsubscribed else Status.CONFIRMED for a in READERS}
    expected |= {a: Status.CONFIRMED if a in CONFIRM else Status.PENDING for a in subscribed}
    expected |= dict.fromkeys(added_directly + CLI_ADDED, Status.CONFIRMED)
    assert {s.email: s.status for s in store.list_subscribers()} == expected

    # the run: its ledger holds who was sent the edition, its report who was skipped, and
    # together they are exactly the readers confirmed at its start, each once
    runs = store.runs("daily")
    assert [(r.edition_date.isoformat(), r.ok) for r in runs] == [("2025-11-26", True)]
    at_start = sorted(set(READERS) - set(BEFORE))  # in the order the send takes them
    ledger = store.deliveries(EDITION)
    assert {d.status for d in ledger} == {DeliveryStatus.SENT}
    sent = {d.email for d in ledger}
    problems = runs[0].problems
    skipped = {p["email"] for p in problems}
    assert all(p["status"] == "skipped" and "suppressed" in p["reason"] for p in problems)
    not_sent = set(at_start) - sent
    assert skipped <= not_sent <= set(DURING), "only readers who unsubscribed meanwhile lack it"
    if isinstance(store, TinyStore):  # the list is read at the start: the rest are skipped
        assert len(ledger) + len(problems) == len(at_start) and skipped == not_sent
    # (a streamed list, on PostgreSQL, reads each block when it comes to it: a reader who
    # left before then is not a recipient at all, neither sent nor skipped)
    counts = {"sent": len(sent), "skipped": len(skipped)}
    assert runs[0].counts == {k: n for k, n in counts.items() if n}

    # the relay: each reader the ledger says was sent got one copy; nobody else got any
    got = Counter(to for to, _ in relay.received(editions=True))
    assert max(got.values()) == 1, "nobody gets the edition twice"
    assert set(got) == sent
    assert not set(BEFORE) & set(got), "an unsubscribe answered before the send is final"
    assert Counter(to for to, _ in relay.received(editions=False)) == Counter(subscribed)

    # readers who unsubscribed during the send: skipped if it came to them late enough
    accepted = sorted(when for to, when in relay.accepted if to in sent)
    guaranteed = []
    for address in DURING:
        p = at_start.index(address)
        k = p - (CONNECTIONS - 1) - len(not_sent.intersection(at_start[:p]))
        came_after = accepted[min(k, len(accepted)) - 1] if k >= 1 else float("-inf")
        if came_after >= answered[address] + EVERY + MARGIN:
            guaranteed.append(address)
    assert guaranteed, "the stall must leave the send time to see some unsubscribes"
    assert set(guaranteed) <= not_sent, sorted(set(guaranteed) - not_sent)
    assert f"sent {len(sent)} via SMTP" in sent_log and f"({len(skipped)} skipped)" in sent_log

    # the web app: no error, and every request answered as expected
    assert "Traceback" not in serve_log and "ERROR" not in serve_log, serve_log
    assert not re.search(r'HTTP/1\.1" [45]\d\d', serve_log), serve_log
    start = at["send started"]
    print(
        f"\n{len(sent)} sent, {len(skipped)} skipped ({len(guaranteed)} had to be), "
        f"{len(DURING) - len(skipped)} unsubscribed after their message; {len(subscribed)} "
        f"subscribed on the web, {len(added_directly)} added directly; "
        + ", ".join(f"{step} {when - start:+.1f}s" for step, when in at.items())
        + f"; {time.monotonic() - began:.1f}s in all"
    )
