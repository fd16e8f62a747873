"""The SMTP pool against real aiosmtpd servers: reuse, recycling, classification, TLS, rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import SMTP_PASSWORD, SMTP_USER, SmtpServer, TlsServer

from digest.config import SmtpConfig
from digest.errors import SendError
from digest.models import Email
from digest.send.smtp import RateLimiter, SmtpPool, classify
from digest.send.transport import AmbiguousFailure, PermanentFailure, TemporaryFailure


def email(to: str, sender: str = "bounce@example.org") -> Email:
    headers = f"From: p@example.org\r\nTo: {to}\r\nSubject: hi\r\nMessage-ID: <{to}>"
    raw = (headers + "\r\n\r\nbody\r\n.starts with a dot\r\n").encode()
    return Email(to, sender, "hi", f"<{to}>", raw, 0, 4, ("p1",))


def make_pool(server: Any, **options: Any) -> SmtpPool:
    """A pool on ``server``; SmtpConfig fields and SmtpPool keywords both go in ``options``."""
    keywords = ("limiter", "tls_context", "transaction_timeout", "slow_down")
    extra = {k: options.pop(k) for k in keywords if k in options}
    settings: dict[str, Any] = {"security": "none", "timeout": 2.0, "connections": 1}
    config = SmtpConfig(host=server.host, port=server.port, **(settings | options))
    return SmtpPool(config, **extra)


async def send(smtp: SmtpPool, emails: Iterable[Email]) -> list[str | BaseException]:
    """Open, deliver all at once (the pool caps the connections), close."""
    await smtp.open()
    try:
        return await asyncio.gather(*(smtp.deliver(e) for e in emails), return_exceptions=True)
    finally:
        await smtp.close()


async def send_in_turn(smtp: SmtpPool, emails: Iterable[Email]) -> list[str | BaseException]:
    """Open, deliver one after the other, close."""
    results: list[str | BaseException] = []
    await smtp.open()
    try:
        for e in emails:
            try:
                results.append(await smtp.deliver(e))
            except Exception as exc:
                results.append(exc)
    finally:
        await smtp.close()
    return results


def run_one(smtp: SmtpPool, message: Email) -> BaseException:
    """Deliver one message that must fail; return the failure."""
    (result,) = asyncio.run(send(smtp, [message]))
    assert isinstance(result, BaseException), result
    return result


@dataclass
class FakeClock:
    """A clock that moves only when something sleeps on it (``frozen``: not even then)."""

    now: float = 1000.0
    frozen: bool = False
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 9))
        if not self.frozen:
            self.now += seconds


# --- reuse, concurrency and recycling ----------------------------------------------------


def test_many_messages_over_the_pool_each_received_once(smtp_server: SmtpServer) -> None:
    script = smtp_server.script
    script.step_sleep = 0.002  # keep each connection busy long enough for the others to open
    emails = [email(f"r{n}@example.org") for n in range(60)]
    results = asyncio.run(send(make_pool(smtp_server, connections=4), emails))
    assert all(isinstance(r, str) and r.startswith("250") for r in results), results
    assert sorted(script.recipients) == sorted(e.recipient for e in emails)
    assert {sender for sender, _, _ in script.messages} == {"bounce@example.org"}
    assert script.connections == 4
    assert script.messages[0][2].endswith(b"\r\n.starts with a dot\r\n")  # dot-stuffing undone


def test_connection_is_recycled_after_messages_per_connection(
    smtp_server: SmtpServer,
) -> None:
    emails = [email(f"r{n}@example.org") for n in range(7)]
    results = asyncio.run(send_in_turn(make_pool(smtp_server, messages_per_connection=3), emails))
    assert all(isinstance(r, str) for r in results)
    assert smtp_server.script.connections == 3  # 3 + 3 + 1 messages
    assert smtp_server.script.quits == 3  # two recycled, one at close


@pytest.mark.parametrize("noticed", [True, False], ids=["drop-noticed", "drop-found-at-mail"])
def test_connection_dropped_while_idle_is_replaced(smtp_server: SmtpServer, noticed: bool) -> None:
    """Yahoo closes a connection after N messages with no reply code: not a failure."""
    smtp_server.script.hang_up.add("first@example.org")
    smtp = make_pool(smtp_server)

    async def scenario() -> str:
        await smtp.open()
        try:
            await smtp.deliver(email("first@example.org"))
            await asyncio.sleep(0.2 if noticed else 0)
            return await smtp.deliver(email("second@example.org"))
        finally:
            await smtp.close()

    assert asyncio.run(scenario()).startswith("250")
    assert smtp_server.script.recipients == ["first@example.org", "second@example.org"]
    assert smtp_server.script.connections == 2


def test_close_quits_every_connection(smtp_server: SmtpServer) -> None:
    smtp_server.script.step_sleep = 0.002
    smtp = make_pool(smtp_server, connections=3)
    asyncio.run(send(smtp, [email(f"r{n}@example.org") for n in range(9)]))
    assert smtp_server.script.connections == 3
    assert smtp_server.script.quits == 3


# --- classification --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "reply", "kind", "bounce"),
    [
        ("MAIL", "451 4.3.0 try later", TemporaryFailure, None),
        ("MAIL", "550 5.1.0 sender rejected", PermanentFailure, False),
        ("MAIL", "553 sender not allowed", PermanentFailure, False),
        ("RCPT", "450 4.2.1 receiving too fast", TemporaryFailure, None),
        ("RCPT", "550 5.1.1 no such user", PermanentFailure, True),
        ("RCPT", "550 no such mailbox", PermanentFailure, True),
        ("RCPT", "552 5.2.2 mailbox full", PermanentFailure, True),
        ("RCPT", "550 5.5.0 mailbox unavailable", PermanentFailure, True),
        ("RCPT", "550 5.7.1 relaying denied", PermanentFailure, False),
        ("RCPT", "554 5.7.26 unauthenticated sender", PermanentFailure, False),
        ("DATA", "452 4.3.1 insufficient storage", TemporaryFailure, None),
        ("DATA", "550 5.1.1 no such user", PermanentFailure, True),
        ("DATA", "554 5.6.0 content rejected", PermanentFailure, False),
        ("DATA", "550 message looks like spam", PermanentFailure, False),
        ("DATA", "550 5.7.1 DMARC policy", PermanentFailure, False),
    ],
)
def test_classify(step: str, reply: str, kind: type, bounce: bool | None) -> None:
    code, message = reply.split(" ", 1)
    failure = classify(step, int(code), message)
    assert isinstance(failure, kind)
    assert str(failure) == f"{reply} (at {step})"
    if isinstance(failure, PermanentFailure):
        assert (failure.code, failure.bounce) == (int(code), bounce)


def test_a_reply_out_of_step_is_no_refusal() -> None:
    assert classify("RCPT", 250, "OK") is None
    assert classify("DATA", -1, "Malformed SMTP response line") is None


def test_temporary_refusal_at_rcpt_keeps_the_connection(smtp_server: SmtpServer) -> None:
    script = smtp_server.script
    script.rcpt["busy@example.org"] = "451 4.3.0 try later"
    emails = [email("busy@example.org"), email("ok@example.org")]
    busy, ok = asyncio.run(send_in_turn(make_pool(smtp_server), emails))
    assert isinstance(busy, TemporaryFailure)
    assert str(busy) == "451 4.3.0 try later (at RCPT)"
    assert isinstance(ok, str)
    assert script.recipients == ["ok@example.org"]
    assert (script.connections, script.resets) == (1, 1)  # RSET made it reusable


@pytest.mark.parametrize(
    ("reply", "bounce"),
    [("550 5.1.1 no such user", True), ("550 5.7.1 relaying denied", False)],
)
def test_permanent_refusal_at_rcpt(smtp_server: SmtpServer, reply: str, bounce: bool) -> None:
    smtp_server.script.rcpt["gone@example.org"] = reply
    failure = run_one(make_pool(smtp_server), email("gone@example.org"))
    assert isinstance(failure, PermanentFailure)
    assert (failure.code, failure.bounce) == (550, bounce)
    assert smtp_server.script.messages == []


def test_refusal_at_mail_is_about_us(smtp_server: SmtpServer) -> None:
    smtp_server.script.mail["banned@example.org"] = "550 5.7.1 sender blocked"
    failure = run_one(make_pool(smtp_server), email("a@example.org", "banned@example.org"))
    assert isinstance(failure, PermanentFailure)
    assert failure.bounce is False
    assert "(at MAIL)" in str(failure)


def test_refusal_at_data(smtp_server: SmtpServer) -> None:
    smtp_server.script.data["a@example.org"] = "554 5.6.0 content rejected"
    emails = [email("a@example.org"), email("b@example.org")]
    refused, ok = asyncio.run(send_in_turn(make_pool(smtp_server), emails))
    assert isinstance(refused, PermanentFailure)
    assert (refused.code, refused.bounce) == (554, False)
    assert isinstance(ok, str)
    assert smtp_server.script.connections == 1


def test_drop_during_data_is_ambiguous(smtp_server: SmtpServer) -> None:
    smtp_server.script.drop.add("cut@example.org")
    emails = [email("cut@example.org"), email("next@example.org")]
    cut, following = asyncio.run(send_in_turn(make_pool(smtp_server), emails))
    assert isinstance(cut, AmbiguousFailure)
    assert isinstance(following, str)
    assert smtp_server.script.connections == 2


def test_timeout_during_data_is_ambiguous_and_bounded(smtp_server: SmtpServer) -> None:
    smtp_server.script.sleep["slow@example.org"] = 3.0
    started = time.monotonic()
    failure = run_one(make_pool(smtp_server, timeout=0.5), email("slow@example.org"))
    assert isinstance(failure, AmbiguousFailure)
    assert time.monotonic() - started < 1.5


def test_slow_steps_are_bounded_by_the_transaction_timeout(
    smtp_server: SmtpServer,
) -> None:
    """Each reply comes within the timeout, but together they stall: MAIL and RCPT answer
    by 0.6 s and DATA by 0.9 s; the 0.8 s deadline falls during DATA."""
    smtp_server.script.step_sleep = 0.3
    smtp = make_pool(smtp_server, timeout=0.5, transaction_timeout=0.8)
    started = time.monotonic()

    async def scenario() -> BaseException:
        await smtp.open()  # not timed: the deadline is per transaction
        started_sending = time.monotonic()
        try:
            await smtp.deliver(email("a@example.org"))
        except Exception as exc:
            assert time.monotonic() - started_sending < 1.5  # without the deadline: a 250 at 0.9 s
            return exc
        finally:
            await smtp.close()
        raise AssertionError("delivered")

    assert isinstance(asyncio.run(scenario()), AmbiguousFailure)
    assert time.monotonic() - started < 3


def test_timeout_before_data_is_temporary(smtp_server: SmtpServer) -> None:
    smtp_server.script.step_sleep = 1.0
    failure = run_one(make_pool(smtp_server, timeout=0.4), email("a@example.org"))
    assert isinstance(failure, TemporaryFailure)
    assert "nothing was sent" in str(failure)


def test_421_closes_the_connection_and_pauses_the_pool(smtp_server: SmtpServer) -> None:
    smtp_server.script.rcpt["a@example.org"] = "421 4.7.28 unusual rate, slow down"
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    smtp = make_pool(smtp_server, limiter=limiter, slow_down=5.0)
    emails = [email("a@example.org"), email("b@example.org")]
    throttled, ok = asyncio.run(send_in_turn(smtp, emails))
    assert isinstance(throttled, TemporaryFailure)
    assert isinstance(ok, str)
    assert clock.sleeps == [5.0]  # the next message waited
    assert smtp_server.script.connections == 2


def test_internationalised_address_uses_smtputf8(smtp_server: SmtpServer) -> None:
    (result,) = asyncio.run(send(make_pool(smtp_server), [email("jörg@example.org")]))
    assert isinstance(result, str)
    assert smtp_server.script.recipients == ["jörg@example.org"]


def test_internationalised_address_without_smtputf8_fails_only_that_message(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.script.smtputf8 = False
    emails = [email("jörg@example.org"), email("jo@example.org")]
    refused, ok = asyncio.run(send_in_turn(make_pool(smtp_server), emails))
    assert isinstance(refused, PermanentFailure)
    assert (refused.code, refused.bounce) == (553, False)
    assert "needs SMTPUTF8" in str(refused)
    assert isinstance(ok, str)
    assert smtp_server.script.recipients == ["jo@example.org"]
    assert smtp_server.script.connections == 1


# --- connecting: TLS, login and clear errors -----------------------------------------------


def test_unreachable_server_fails_open_with_one_clear_line() -> None:
    smtp = SmtpPool(SmtpConfig(host="127.0.0.1", port=9, security="none", timeout=2))
    with pytest.raises(SendError, match=r"cannot connect to SMTP 127\.0\.0\.1:9: ") as info:
        asyncio.run(smtp.open())
    assert "\n" not in str(info.value)
    assert info.value.hint


def test_starttls_with_login(tls_smtp: Any) -> None:
    server: TlsServer = tls_smtp("starttls")
    smtp = make_pool(
        server,
        security="starttls",
        user=SMTP_USER,
        password=SMTP_PASSWORD,
        tls_context=server.client_context,
    )
    results = asyncio.run(send(smtp, [email("a@example.org")]))
    assert isinstance(results[0], str)
    assert server.script.recipients == ["a@example.org"]  # the server refuses MAIL before TLS


def test_a_private_ca_is_trusted_through_ca_file(
    tls_smtp: Any, tls_ca: Any, tmp_path: Path
) -> None:
    server: TlsServer = tls_smtp("starttls")
    ca_file = tmp_path / "relay-ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))
    smtp = make_pool(
        server, security="starttls", user=SMTP_USER, password=SMTP_PASSWORD, ca_file=ca_file
    )
    asyncio.run(send(smtp, [email("a@example.org")]))
    assert server.script.recipients == ["a@example.org"]


def test_wrong_password_is_a_clear_send_error(tls_smtp: Any) -> None:
    server: TlsServer = tls_smtp("starttls")
    smtp = make_pool(
        server,
        security="starttls",
        user=SMTP_USER,
        password="wrong",
        tls_context=server.client_context,
    )
    with pytest.raises(SendError, match=r"refused the login for 'digest': 535") as info:
        asyncio.run(smtp.open())
    assert f"SMTP 127.0.0.1:{server.port}" in str(info.value)
    assert "DIGEST_SMTP_PASSWORD" in str(info.value)


def test_starttls_never_falls_back_to_clear_text(smtp_server: Any) -> None:
    smtp = make_pool(smtp_server, security="starttls")
    with pytest.raises(SendError, match="does not offer STARTTLS"):
        asyncio.run(send(smtp, [email("a@example.org")]))
    assert smtp_server.script.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS
def test_implicit_tls_with_login(tls_smtp: Any) -> None:
    server: TlsServer = tls_smtp("tls")
    smtp = make_pool(
        server,
        security="tls",
        user=SMTP_USER,
        password=SMTP_PASSWORD,
        tls_context=server.client_context,
    )
    results = asyncio.run(send(smtp, [email("a@example.org"), email("b@example.org")]))
    assert all(isinstance(r, str) for r in results)
    assert sorted(server.script.recipients) == ["a@example.org", "b@example.org"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS
def test_certificates_are_checked_by_default(tls_smtp: Any) -> None:
    server: TlsServer = tls_smtp("tls")
    smtp = make_pool(server, security="tls", user=SMTP_USER, password=SMTP_PASSWORD)
    with pytest.raises(SendError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(smtp.open())


# --- rate limiting ---------------------------------------------------------------------


def test_rate_limiter_spaces_messages_evenly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)

    async def take(n: int) -> None:
        for _ in range(n):
            await limiter.acquire()

    asyncio.run(take(11))
    assert clock.now - 1000.0 == pytest.approx(10 / 5)  # the first goes at once
    assert clock.sleeps == [0.2] * 10


def test_rate_limiter_books_slots_for_concurrent_callers() -> None:
    clock = FakeClock(frozen=True)
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)

    async def take(n: int) -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(n)))

    asyncio.run(take(5))
    assert clock.sleeps == [0.25, 0.5, 0.75, 1.0]


def test_rate_limiter_bursts_at_most_one_second_after_idling() -> None:
    clock = FakeClock(frozen=True)
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)

    async def take(n: int) -> None:
        await limiter.acquire()
        clock.now += 60  # a long idle spell earns no more than a second of slots
        await asyncio.gather(*(limiter.acquire() for _ in range(n)))

    asyncio.run(take(6))
    assert clock.sleeps == [0.25, 0.5]  # 4 at once, then back on schedule


def test_rate_limiter_pause_applies_without_a_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)

    async def take() -> None:
        await limiter.acquire()
        limiter.pause(3.0)
        await limiter.acquire()
        await limiter.acquire()

    asyncio.run(take())
    assert clock.sleeps == [3.0]


def test_pool_keeps_to_the_rate_in_real_time(smtp_server: SmtpServer) -> None:
    emails = [email(f"r{n}@example.org") for n in range(10)]
    smtp = make_pool(smtp_server, connections=4, rate=20)

    async def timed() -> float:
        await smtp.open()
        started = time.monotonic()
        try:
            await asyncio.gather(*(smtp.deliver(e) for e in emails))
        finally:
            await smtp.close()
        return time.monotonic() - started

    elapsed = asyncio.run(timed())
    assert 0.4 <= elapsed < 1.5  # 9 intervals of 50 ms
    assert len(smtp_server.script.messages) == 10
