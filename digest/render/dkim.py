"""Signing: a DKIM-Signature on each message (RFC 6376), tying it to the sending domain.

dkimpy does the work; this module picks its settings once:

- the signed headers are named, because dkimpy's default list leaves out
  List-Unsubscribe-Post, which one-click unsubscribe (RFC 8058) needs signed; Reply-To and
  Feedback-ID are signed when a message has them;
- each is named twice ("oversigned", RFC 6376 §8.15): a verifier then reads a header added
  on the way, say a second List-Unsubscribe-Post, as a changed message, not as one the
  signature does not cover;
- relaxed/relaxed canonicalisation, which survives relays that re-fold headers or trim
  trailing spaces;
- no ``l=`` body length, which would let anyone append to a signed body.

Cost: signing takes far longer than rendering (``bench/bench_render.py --dkim-key``). Most of
it is the RSA signature itself, which dkimpy computes with Python integers (no C crypto
library); the rest is dkimpy parsing the message and canonicalising the body with regular
expressions. A run that must go faster leaves signing to its mail relay (OpenDKIM and the
like), which sees the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dkim  # type: ignore[import-untyped]

from digest.config import DkimConfig
from digest.errors import ConfigError, RenderError

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
SIGNED_IF_PRESENT = (b"reply-to", b"feedback-id")
_PROBE = b"From: probe@example.org\r\nSubject: probe\r\n\r\nprobe\r\n"


@dataclass(frozen=True, slots=True)
class DkimSigner:
    """Signs with one key for ``selector._domainkey.<domain>``."""

    selector: str
    domain: str
    key: bytes = field(repr=False)  # PEM, PKCS#1 or PKCS#8

    @classmethod
    def from_config(cls, config: DkimConfig) -> DkimSigner:
        """The signer ``config`` describes; ConfigError if its key file is not a usable key."""
        try:
            key = config.key_file.read_bytes()
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise ConfigError(f"cannot read the DKIM key file {config.key_file}: {reason}") from exc
        signer = cls(config.selector, config.domain, key)
        try:
            signer.sign(_PROBE)
        except RenderError as exc:
            reason = " ".join(str(exc.__cause__).split())
            raise ConfigError(
                f"the DKIM key file {config.key_file} does not hold an RSA private key in PEM "
                f"({reason})",
                hint="make one with: openssl genrsa -out dkim.pem 2048",
            ) from exc
        return signer

    def sign(self, raw: bytes) -> bytes:
        """``raw`` (CRLF line ends) with its DKIM-Signature header prepended."""
        try:
            signature: bytes = dkim.sign(
                raw,
                self.selector.encode(),
                self.domain.encode(),
                self.key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=2 * [*SIGNED_HEADERS, *_present(raw, SIGNED_IF_PRESENT)],
                length=False,
            )
        except dkim.DKIMException as exc:
            reason = " ".join(str(exc).split())  # dkimpy's messages run over several lines
            raise RenderError(f"could not DKIM-sign for {self.domain}: {reason}") from exc
        return signature + raw


def _present(raw: bytes, names: tuple[bytes, ...]) -> list[bytes]:
    """Those of ``names`` that head a header line of ``raw``."""
    head = b"\r\n" + raw.partition(b"\r\n\r\n")[0].lower()
    return [name for name in names if b"\r\n" + name + b":" in head]
