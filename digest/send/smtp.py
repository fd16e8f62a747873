"""SMTP: a pool of reused connections to one mail server, and what each refusal means.

This is the only module that speaks SMTP. :class:`SmtpPool` keeps up to ``connections``
aiosmtplib clients. A delivery borrows an idle client (or opens one while under the cap), runs
one MAIL/RCPT/DATA transaction and gives the client back. Each client is sequential; the pool
is what makes sending parallel. A client is retired after ``messages_per_connection``
transactions and after any error that leaves it in an unknown state.

Each step is classified by what it means for a resend (see :mod:`digest.send.transport`):

    step   reply or event                       raises             bounce
    MAIL   4xx                                  TemporaryFailure
    MAIL   5xx                                  PermanentFailure   False  (about us, not them)
    RCPT   4xx                                  TemporaryFailure
    RCPT   5xx 5.3.x, 5.6.x, 5.7.x              PermanentFailure   False  (system, content, policy)
    RCPT   other 5xx (5.1.x, 5.2.x, 5.5.x, 550) PermanentFailure   True   (the address)
    DATA   4xx                                  TemporaryFailure
    DATA   5xx 5.1.x, 5.2.x                     PermanentFailure   True   (the address)
    DATA   other 5xx                            PermanentFailure   False  (content refused)
    MAIL/RCPT  lost connection, timeout         TemporaryFailure   (nothing was sent)
    DATA   lost connection, timeout             AmbiguousFailure   (it may have been accepted)
    any    a reply that is not 4xx/5xx          as a lost connection at that step

A 421 anywhere closes that client and pauses the whole pool for a few seconds: it is how
servers say "slow down". A connection the server dropped while idle (Yahoo does this after a
number of messages, without a reply code) is replaced without failing the delivery.

Over 300 lines because the pool and the table above are one thing: every place the pool
talks to the server classifies what it heard there. Probing the relay is in ``probe.py``.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable

import aiosmtplib

from digest.config import SmtpConfig
from digest.errors import SendError
from digest.models import Email
from digest.send import smtp_data
from digest.send.transport import AmbiguousFailure, PermanentFailure, TemporaryFailure
from digest.subscribers import ascii_address

smtp_data.install()  # aiosmtplib's DATA preparation, without two regex scans of a clean message

SLOW_DOWN_SECONDS = 5.0  # pause after a 421: long enough to matter, short next to a run

_ENHANCED = re.compile(r"[245]\.(\d{1,3})\.\d{1,3}\b")  # RFC 3463 class.subject.detail


class RateLimiter:
    """At most ``rate`` messages a second across the pool, evenly spaced (0: no limit).

    A token bucket in its "virtual scheduling" form: each caller books the next free slot, one
    interval after the previous booking, and sleeps until it. Time nobody used earns at most
    ``burst`` seconds of slots, so a stall is caught up with a short burst, never a long one.
    Booking happens before the first await, so concurrent callers need no lock."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._slack = max(0.0, burst - self.interval) if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None  # the earliest free slot

    async def acquire(self) -> None:
        """Wait for this message's slot."""
        now = self._clock()
        slot = now if self._next is None else max(self._next, now - self._slack)
        self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Book no slot sooner than ``seconds`` from now (the server asked us to slow down)."""
        resume = self._clock() + seconds
        self._next = resume if self._next is None else max(self._next, resume)


def classify(step: str, code: int, message: str) -> Exception | None:
    """The failure a refusal at MAIL, RCPT or DATA stands for; None if the code is no refusal
    (a reply out of step with the conversation)."""
    text = f"{code} {message} (at {step})"
    if 400 <= code < 500:
        return TemporaryFailure(text)
    if not 500 <= code < 600:
        return None
    match = _ENHANCED.match(message)
    subject = match.group(1) if match else ""
    if step == "MAIL":
        bounce = False
    elif step == "RCPT":
        bounce = subject not in ("3", "6", "7")
    else:
        bounce = subject in ("1", "2")
    return PermanentFailure(text, code=code, bounce=bounce)


def _lost(step: str, exc: BaseException) -> Exception:
    """A connection that broke (or went silent) at ``step``."""
    reason = _describe(exc)
    if step == "DATA":
        return AmbiguousFailure(
            f"connection lost during DATA, the message may be delivered: {reason}"
        )
    return TemporaryFailure(f"connection lost at {step}, nothing was sent: {reason}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    if type(exc) is TimeoutError:  # asyncio.timeout, not one of aiosmtplib's own
        return "the server took longer than the transaction timeout"
    return str(exc) or type(exc).__name__


class _IdleDrop(TemporaryFailure):
    """A reused connection turned out to be closed at MAIL: safe to retry on a fresh one."""


class _Connection:
    __slots__ = ("client", "transactions")

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.transactions = 0


class SmtpPool:
    """Up to ``config.connections`` reused SMTP connections; implements ``Transport``.

    ``tls_context`` replaces the system trust store (tests trust a throwaway CA with it);
    ``transaction_timeout`` bounds a whole connect or transaction (default 3 x timeout), since
    aiosmtplib's timeout applies to each read and a slow server could otherwise stall a run."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        limiter: RateLimiter | None = None,
        tls_context: ssl.SSLContext | None = None,
        transaction_timeout: float | None = None,
        slow_down: float = SLOW_DOWN_SECONDS,
    ) -> None:
        if not config.host:
            raise SendError("no SMTP host configured", hint="set DIGEST_SMTP_HOST or smtp.host")
        self.config = config
        self.concurrency = max(1, config.connections)
        rate = f", {config.rate:g}/s" if config.rate > 0 else ""
        self.where = f"SMTP {config.host}:{config.port}"
        self.description = f"{self.where} ({config.security}, {self.concurrency} connections{rate})"
        self.limiter = limiter or RateLimiter(config.rate)
        self._tls_context = tls_context
        self._deadline = transaction_timeout or config.timeout * 3
        self._slow_down = slow_down
        self._local_hostname: str | None = None
        self._slots = asyncio.Semaphore(self.concurrency)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    def idle_client(self) -> aiosmtplib.SMTP:
        """A connected client waiting in the pool (after :meth:`open`), for a probe to read."""
        return self._idle[0].client

    async def open(self) -> None:
        """Connect and log in once now, so a wrong host, port or password fails the run early."""
        self._slots = asyncio.Semaphore(self.concurrency)
        if self._tls_context is None and self.config.security in ("tls", "starttls"):
            cafile = str(self.config.ca_file) if self.config.ca_file else None
            self._tls_context = await asyncio.to_thread(ssl.create_default_context, cafile=cafile)
        if self._local_hostname is None:  # aiosmtplib would look it up for every connection
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        self._idle.append(await self._connect())

    async def deliver(self, email: Email) -> str:
        await self.limiter.acquire()
        async with self._slots:
            conn = await self._borrow()
            try:
                return await self._transaction(conn, email)
            except _IdleDrop:
                pass  # the server closed it while it sat idle; nothing was sent
            finally:
                await self._give_back(conn)
            conn = await self._connect_for_delivery()
            try:
                return await self._transaction(conn, email)
            finally:
                await self._give_back(conn)

    async def close(self) -> None:
        """QUIT every idle connection; abort any still busy (a cancelled run)."""
        idle, self._idle = self._idle, []
        for conn in self._open.difference(idle):
            conn.client.close()
        self._open.clear()
        await asyncio.gather(*(_quit(conn.client) for conn in idle))

    async def _borrow(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.client.is_connected:
                return conn
            self._open.discard(conn)  # dropped by the server while idle
        return await self._connect_for_delivery()

    async def _give_back(self, conn: _Connection) -> None:
        limit = self.config.messages_per_connection
        if not conn.client.is_connected or conn not in self._open:
            self._open.discard(conn)
            conn.client.close()
        elif limit > 0 and conn.transactions >= limit:
            self._open.discard(conn)
            await _quit(conn.client)
        else:
            self._idle.append(conn)

    async def _connect_for_delivery(self) -> _Connection:
        """A new connection; failing to open one mid-run is worth a retry, not a crash."""
        try:
            return await self._connect()
        except SendError as exc:
            cause = exc.__cause__
            if isinstance(cause, aiosmtplib.SMTPResponseException) and cause.code == 421:
                self.limiter.pause(self._slow_down)
            raise TemporaryFailure(str(exc)) from exc

    async def _connect(self) -> _Connection:
        cfg = self.config
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=cfg.timeout,
            use_tls=cfg.security == "tls",
            start_tls=False,  # done below, so a server without STARTTLS is an error
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )
        step = "connect"
        try:
            async with asyncio.timeout(self._deadline):
                await client.connect()
                if cfg.security == "starttls":
                    step = "STARTTLS"
                    await client.starttls()
                if cfg.user:
                    step = "login"
                    await client.login(cfg.user, cfg.password or "")
                if client.is_ehlo_or_helo_needed:  # learn the extensions before the first MAIL
                    step = "EHLO"
                    await client.ehlo()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise _connect_error(self.where, step, exc, cfg) from exc
        except BaseException:
            client.close()
            raise
        conn = _Connection(client)
        self._open.add(conn)
        return conn

    async def _transaction(self, conn: _Connection, email: Email) -> str:
        """MAIL, RCPT, DATA; each failure classified by the step it happened at."""
        client = conn.client
        reused = conn.transactions > 0
        conn.transactions += 1
        options, encoding, sender, recipient = self._envelope(client, email)
        step = "MAIL"
        try:
            async with asyncio.timeout(self._deadline):
                await client.mail(sender, options=options, encoding=encoding)
                step = "RCPT"
                await client.rcpt(recipient, encoding=encoding)
                step = "DATA"
                reply = await client.data(email.raw)
        except aiosmtplib.SMTPResponseException as exc:
            raise await self._refused(client, step, exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            if reused and step == "MAIL" and isinstance(exc, ConnectionError):
                raise _IdleDrop(str(exc)) from exc
            raise _lost(step, exc) from exc
        except ValueError as exc:  # an address aiosmtplib will not put on a command line
            await _reset(client)
            raise PermanentFailure(
                f"cannot send to {email.recipient!r}: {exc}", bounce=False
            ) from exc
        except BaseException:
            client.close()  # cancelled mid-command: the conversation is out of step
            raise
        return f"{reply.code} {reply.message}"

    def _envelope(
        self, client: aiosmtplib.SMTP, email: Email
    ) -> tuple[list[str] | None, str, str, str]:
        """MAIL parameters, address encoding, sender and recipient. An internationalised
        address goes as it is with SMTPUTF8 (RFC 6531) when the server offers it; else with
        its domain in IDNA form, which needs an ASCII local part and ASCII headers."""
        sender, recipient = email.envelope_from, email.recipient
        if sender.isascii() and recipient.isascii():
            return None, "ascii", sender, recipient
        if client.supports_extension("smtputf8"):
            return ["SMTPUTF8"], "utf-8", sender, recipient
        ascii_sender, ascii_recipient = ascii_address(sender), ascii_address(recipient)
        headers = email.raw.partition(b"\r\n\r\n")[0]
        if ascii_sender is None or ascii_recipient is None or not headers.isascii():
            reason = f"{recipient} needs SMTPUTF8, which {self.where} does not offer"
            raise PermanentFailure(reason, code=553, bounce=False)
        return None, "ascii", ascii_sender, ascii_recipient

    async def _refused(
        self, client: aiosmtplib.SMTP, step: str, exc: aiosmtplib.SMTPResponseException
    ) -> Exception:
        if exc.code == 421:
            client.close()
            self.limiter.pause(self._slow_down)
        failure = classify(step, exc.code, exc.message)
        if failure is None:
            client.close()
            return _lost(step, exc)
        await _reset(client)
        return failure


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refusal, so the connection can carry the next message."""
    if not client.is_connected:
        return
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def _connect_error(where: str, step: str, exc: Exception, cfg: SmtpConfig) -> SendError:
    """One line for the operator: what failed while opening a connection, and what to check."""
    security = "check smtp.security: tls is implicit TLS (port 465), starttls upgrades (587)"
    tls = _tls_cause(exc)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return SendError(
            f"{where} refused the login for {cfg.user!r}: {exc.code} {exc.message}",
            hint="check DIGEST_SMTP_USER and DIGEST_SMTP_PASSWORD",
        )
    if tls is not None:
        hint = "the server's certificate is not trusted for this host name"
        if not isinstance(tls, ssl.SSLCertVerificationError):
            hint = security
        return SendError(f"TLS with {where} failed at {step}: {tls}", hint=hint)
    if isinstance(exc, TimeoutError):
        return SendError(
            f"{where} did not answer at {step} (timeout {cfg.timeout:g} s)",
            hint="check smtp.host and smtp.port (a firewall may drop the connection); " + security,
        )
    if step == "STARTTLS" and not isinstance(exc, ConnectionError):
        return SendError(
            f"{where} does not offer STARTTLS; not sending in clear text: {_describe(exc)}",
            hint="use security: tls for port 465, or none only for a trusted local relay",
        )
    if step == "login" and not isinstance(exc, ConnectionError):
        return SendError(
            f"{where} cannot log in {cfg.user!r}: {_describe(exc)}",
            hint="servers offer AUTH only over TLS: set smtp.security to starttls or tls",
        )
    return SendError(
        f"cannot connect to {where}: {_describe(exc)}",
        hint="check smtp.host, smtp.port and smtp.security",
    )


def _tls_cause(exc: BaseException | None) -> ssl.SSLError | None:
    """The TLS error behind ``exc`` (aiosmtplib wraps handshake errors in its own)."""
    for _ in range(4):
        if exc is None or isinstance(exc, ssl.SSLError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
