"""Inbound: mail that comes back, classified (a stage; it imports nouns only).

:func:`classify` reads one raw message into a :class:`Verdict`: an RFC 3464 delivery status
notification (hard or soft bounce, with its status code and diagnostic), a non-standard
bounce (flufl.bounce), an RFC 5965 ARF complaint, an auto-reply, or unclassified with the
reason. It trusts nothing the message says about who it is about: the pipeline
(:mod:`digest.pipeline.inbound`) matches it to a delivery by a signed token or a Message-ID
in the ledger. The IMAP folder (``imap``) and the providers' webhooks (``providers``,
``sns``) live here too.
"""

from __future__ import annotations

from digest.inbound.classify import classify
from digest.inbound.verdict import Verdict

__all__ = ["Verdict", "classify"]
