"""The bounces that are no RFC 3464 report: what Exim, qmail, old Sendmail and Postfix,
Exchange, Yahoo, and many more send instead. flufl.bounce (the detectors GNU Mailman uses)
finds the failed addresses and whether each failure is temporary or permanent; it gives
addresses only, so the status code and the diagnostic line are read from the text here.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

from flufl.bounce import all_failures

from digest.inbound.message import all_text, header
from digest.inbound.verdict import Verdict, kind_of_status, status_code
from digest.models import MailEventKind

logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)  # it logs each detector's crash
_MTA_SENDER = re.compile(
    r"mailer-daemon|postmaster|mail delivery|mdaemon|mail ?administrator", re.I
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned mail|delivery (status )?(notification|failure|failed)|"
    r"failure notice|could not be delivered|mail delivery failed|nondeliverable|"
    r"delivery has failed|not delivered",
    re.I,
)
_ADDRESS = re.compile(r"<?([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})>?")
_PERMANENT = re.compile(r"permanent (error|failure)|was aborted|could not be delivered", re.I)
_SMTP_REPLY = re.compile(r"(?:^|[\s:(<])[45]\d\d(?:[ :-]|$)")


def from_mta(msg: Message) -> bool:
    """Whether the message comes from a mail system (a bounce) rather than a person."""
    sender = header(msg, "From")
    return bool(_MTA_SENDER.search(sender)) or header(msg, "Return-Path").strip() == "<>"


def read_bounce(msg: Message) -> Verdict | None:
    """A non-standard bounce, by flufl.bounce's detectors or, failing them, by its look."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # a detector that crashes on odd input: we look ourselves
        temporary, permanent = frozenset(), frozenset()
        logging.getLogger(__name__).debug("flufl.bounce failed: %r", exc)
    text = all_text(msg)
    failed = sorted(_decoded(a) for a in permanent) or sorted(_decoded(a) for a in temporary)
    if failed:
        status, diagnostic = _diagnosis(text, failed[0])
        kind = kind_of_status(status, permanent_default=bool(permanent))
        return Verdict(kind, "a bounce (flufl.bounce)", failed[0], status, diagnostic)
    if from_mta(msg) and _BOUNCE_SUBJECT.search(header(msg, "Subject")):
        return _by_its_look(text)
    return None


def _by_its_look(text: str) -> Verdict | None:
    """A mail system's failure notice flufl.bounce does not know: its status code, else
    the SMTP reply it quotes (``550 user unknown``) says hard or soft."""
    status, diagnostic = _diagnosis(text, "")
    if status:
        kind = kind_of_status(status, permanent_default=True)
        return Verdict(kind, "a bounce (its status code)", "", status, diagnostic)
    recipient = _ADDRESS.search(text)
    failed = recipient.group(1) if recipient else ""
    reply = _SMTP_REPLY.search(diagnostic)
    if reply:
        soft = reply.group().strip(" :(<-").startswith("4")
        kind = MailEventKind.SOFT_BOUNCE if soft else MailEventKind.HARD_BOUNCE
        return Verdict(kind, "a bounce (the SMTP reply it quotes)", failed, "", diagnostic)
    said = _PERMANENT.search(text)
    if said:
        line = " ".join(_diagnosis(text, failed.lower())[1].split()) or said.group()
        return Verdict(MailEventKind.HARD_BOUNCE, "a bounce (its wording)", failed, "", line)
    return None


def _diagnosis(text: str, address: str) -> tuple[str, str]:
    """The status code and the line that says what went wrong: near the failed address
    when it is named, else the first line with a failure code in it, else the lines that
    follow the address (Exchange's "The recipient name is not recognized")."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    local = address.partition("@")[0]
    at = next((i for i, line in enumerate(lines) if address and address in line.lower()), None)
    if at is None and local:  # flufl.bounce may have added the domain ("screenname")
        at = next((i for i, line in enumerate(lines) if local in line.lower()), None)
    near = lines[at : at + 12] if at is not None else []
    for line in near + lines:
        code = status_code(line)
        if code and code[0] in "45":
            return code, line[:300]
    for line in near + lines:
        if _SMTP_REPLY.search(line):
            return "", line[:300]
    after = [line for line in near[1:4] if address not in line.lower()]
    if not after and at:  # the address ends the notice: what came before it says why
        after = lines[max(0, at - 2) : at]
    return "", " ".join(after)[:300]


def _decoded(address: bytes) -> str:
    return address.decode("utf-8", errors="replace").strip().strip("<>").lower()
