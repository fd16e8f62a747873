"""What a returned message is: the record the classifier hands the pipeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from digest.models import MailEventKind

#: An RFC 3463 enhanced status code: class (2, 4 or 5), subject, detail.
STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


@dataclass(frozen=True, slots=True)
class Verdict:
    """One message classified. ``kind`` None: not recognised (``reason`` says why).

    ``recipients`` are the addresses the message itself was sent to (a token there is
    ours: a VERP or mailto address); ``returned`` are the addresses of the original's
    envelope sender found inside the report (a VERP token again). ``message_ids`` are the
    original's Message-IDs found in it. None of these is trusted until a token verifies or a
    Message-ID is found in the ledger."""

    kind: MailEventKind | None
    reason: str  # how it was recognised ("RFC 3464 delivery status"), or why it was not
    recipient: str = ""  # the failed address the report names, as it names it
    status: str = ""  # the RFC 3463 code, when it gives one
    diagnostic: str = ""
    recipients: tuple[str, ...] = ()
    returned: tuple[str, ...] = ()
    message_ids: tuple[str, ...] = ()
    event_id: str = ""  # the report's Message-ID, or a hash of its bytes
    at: datetime | None = None  # the report's Date

    @property
    def classified(self) -> bool:
        return self.kind is not None


def status_code(text: str) -> str:
    """The first enhanced status code in ``text`` ("5.1.1"), or ""."""
    found = STATUS.search(text)
    return ".".join(found.groups()) if found else ""


def kind_of_status(status: str, *, permanent_default: bool) -> MailEventKind:
    """5.x.x is a hard bounce and 4.x.x a soft one; without a code, ``permanent_default``."""
    if status.startswith("4"):
        return MailEventKind.SOFT_BOUNCE
    if status.startswith("5") or permanent_default:
        return MailEventKind.HARD_BOUNCE
    return MailEventKind.SOFT_BOUNCE
