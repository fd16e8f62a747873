"""Which delivery a returned message is about: a signed token, else the original Message-ID.

Nothing the message says about who it is about is believed on its own. A token is looked
for only in addresses on our own mailboxes (``sender.envelope_from`` for the return path,
``sender.unsubscribe_mailto`` for the mailto link) and must verify with the secret; a
Message-ID must be one the ledger holds. A token on our mailbox that does not verify makes
the message forged, whatever else it says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from digest.config import Config
from digest.errors import InputError
from digest.inbound import Verdict
from digest.links import UNSUBSCRIBE_MAILTO, VERP, address_token, read_mail_token
from digest.store import Store


@dataclass(frozen=True, slots=True)
class Match:
    """The delivery found: its edition and the reader's address, and how it was found."""

    edition: str
    email: str
    by: str  # "return path", "mailto address", "Message-ID"


@dataclass(frozen=True, slots=True)
class Tokens:
    """The tokens on our mailboxes a message carries: those that verified, by purpose, as
    (subscriber id, edition), and whether any did not."""

    verp: tuple[tuple[str, str], ...] = ()
    mailto: tuple[tuple[str, str], ...] = ()
    forged: str = ""  # why a token on our mailbox did not verify ("" if none failed)


def read_tokens(config: Config, secret: str, verdict: Verdict) -> Tokens:
    """Every token on our mailboxes in the message's recipients and the returned headers."""
    digests = [d.name for d in config.digests]
    bases = {
        VERP: config.sender.envelope_from,
        UNSUBSCRIBE_MAILTO: config.sender.unsubscribe_mailto,
    }
    found: dict[str, list[tuple[str, str]]] = {VERP: [], UNSUBSCRIBE_MAILTO: []}
    forged = ""
    places = {
        VERP: (*verdict.recipients, *verdict.returned),
        UNSUBSCRIBE_MAILTO: verdict.recipients,
    }
    for purpose, base in bases.items():
        for token in _tokens_on(base, places[purpose]):
            try:
                found[purpose].append(read_mail_token(secret, purpose, token, digests))
            except InputError as exc:
                forged = forged or exc.message
    return Tokens(tuple(found[VERP]), tuple(found[UNSUBSCRIBE_MAILTO]), forged)


def to_plain_mailto(config: Config, verdict: Verdict) -> bool:
    """Whether the message went to the mailto address with no token (a client that dropped
    it, or an older email): a request no one can verify, for the operator to read."""
    base = (config.sender.unsubscribe_mailto or "").lower()
    return bool(base) and any(a.strip("<> ").lower() == base for a in verdict.recipients)


def by_token(
    store: Store,
    named: Sequence[tuple[str, str]],
    by: str,
    readers: Mapping[str, str] | None = None,
) -> Match | None:
    """The delivery the first token names, if its reader is still in the store
    (``readers``: subscriber id → address, read once for a batch, else asked each time)."""
    for sub_id, edition in named:
        if readers is not None:
            email = readers.get(sub_id)
        else:
            sub = store.get_subscriber_by_id(sub_id)
            email = sub.email if sub is not None else None
        if email is not None:
            return Match(edition, email, by)
    return None


def reader_index(store: Store) -> dict[str, str] | None:
    """Subscriber id → address, for a batch of returned mail, from one read of a store that
    reads itself whole for any lookup (TinyDB); None for one that looks an id up in its
    index (PostgreSQL): a lookup per message is then far cheaper than a million rows."""
    if store.indexed:
        return None
    return {sub.id: sub.email for sub in store.list_subscribers()}


def by_message_id(store: Store, message_ids: Iterable[str]) -> Match | None:
    for message_id in message_ids:
        found = store.delivery_by_message_id(message_id)
        if found is not None:
            return Match(found[0], found[1], "Message-ID")
    return None


def _tokens_on(base: str | None, addresses: Iterable[str]) -> list[str]:
    """The tokens of the addresses that are ``base`` tagged (``local+token@domain``)."""
    if not base:
        return []
    local, _, domain = base.lower().rpartition("@")
    tokens = []
    for address in addresses:
        seen_local, _, seen_domain = address.strip().strip("<>").lower().rpartition("@")
        token = address_token(address)
        if token and seen_domain == domain and seen_local == f"{local}+{token}":
            tokens.append(token)
    return list(dict.fromkeys(tokens))
