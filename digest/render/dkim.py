"""Signing: a DKIM-Signature on each message (RFC 6376), tying it to the sending domain.

The settings are picked once, here:

- the signed headers are named, because dkimpy's default list leaves out
  List-Unsubscribe-Post, which one-click unsubscribe (RFC 8058) needs signed; Reply-To and
  Feedback-ID are signed when a message has them;
- each is named twice ("oversigned", RFC 6376 §8.15): a verifier then reads a header added
  on the way, say a second List-Unsubscribe-Post, as a changed message, not as one the
  signature does not cover;
- relaxed/relaxed canonicalisation, which survives relays that re-fold headers or trim
  trailing spaces;
- no ``l=`` body length, which would let anyone append to a signed body.

The work is split at one seam. What a verifier must agree with byte for byte (parsing the
header block, choosing which instance of a header each ``h=`` name covers, relaxed
canonicalisation of headers and body) is done here with ``bytes`` methods, each step
property-tested against dkimpy, the reference verifier, whose regular expressions cost more
than the signature itself; dkimpy still folds the signature header, and parses any header
block with a bare CR or LF. The RSA-SHA256 signature (RSASSA-PKCS1-v1_5, RFC 8017) is made
by the ``cryptography`` package, in OpenSSL's C, with the key parsed once per signer:
dkimpy's own RSA is pure Python and cost about 15 ms a message, this about 0.4 ms
(docs/benchmarks.md).
Every signature is checked by the tests with ``dkim.verify``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass, field

import dkim  # type: ignore[import-untyped]
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

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
MIN_KEY_BITS = 1024  # what dkim.verify accepts by default (RFC 8301 asks for at least 1024)
_PROBE = b"From: probe@example.org\r\nSubject: probe\r\n\r\nprobe\r\n"
_NAME = b"DKIM-Signature"
_BARE_LF = re.compile(rb"\r?\n")
_FIELD_NAME = re.compile(rb"[\x21-\x7e]+")  # what dkimpy takes before a field's colon


@dataclass(frozen=True, slots=True)
class DkimSigner:
    """Signs with one key for ``selector._domainkey.<domain>``."""

    selector: str
    domain: str
    key: bytes = field(repr=False)  # PEM, PKCS#1 or PKCS#8
    _private: rsa.RSAPrivateKey | None = field(default=None, init=False, repr=False, compare=False)

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
            reason = " ".join(str(exc.__cause__ or exc).split())
            raise ConfigError(
                f"the DKIM key file {config.key_file} does not hold an RSA private key in PEM "
                f"({reason})",
                hint="make one with: openssl genrsa -out dkim.pem 2048",
            ) from exc
        return signer

    def sign(self, raw: bytes) -> bytes:
        """``raw`` (CRLF line ends) with its DKIM-Signature header prepended."""
        private = self._private or self._load_key()
        try:
            headers, body = _split(raw)
            include = tuple(2 * [*SIGNED_HEADERS, *_present(raw, SIGNED_IF_PRESENT)])
            fields = self._fields(include, body)
            hashed = _header_hash(headers, include, fields)
            signature = private.sign(hashed, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        except (dkim.DKIMException, ValueError) as exc:
            reason = " ".join(str(exc).split())  # dkimpy's messages run over several lines
            raise RenderError(f"could not DKIM-sign for {self.domain}: {reason}") from exc
        fields[-1] = (b"b", base64.b64encode(signature))
        value = b"; ".join(b"=".join(pair) for pair in fields) + b"\r\n"
        folded: bytes = dkim.fold(value, namelen=len(_NAME))
        return _NAME + b": " + folded + raw

    def _fields(self, include: tuple[bytes, ...], body: bytes) -> list[tuple[bytes, bytes]]:
        """The signature's tags, in dkimpy's order, with an empty ``b=`` last."""
        body_hash = hashlib.sha256(relaxed_body(body)).digest()
        domain = self.domain.encode()
        return [
            (b"v", b"1"),
            (b"a", b"rsa-sha256"),
            (b"c", b"relaxed/relaxed"),
            (b"d", domain),
            (b"i", b"@" + domain),
            (b"q", b"dns/txt"),
            (b"s", self.selector.encode()),
            (b"t", str(int(time.time())).encode()),
            (b"h", b" : ".join(include)),
            (b"bh", base64.b64encode(body_hash)),
            (b"b", b""),
        ]

    def _load_key(self) -> rsa.RSAPrivateKey:
        """The key, parsed once and kept (a frozen record, so set past the freeze)."""
        try:
            private = serialization.load_pem_private_key(self.key, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise RenderError(f"could not DKIM-sign for {self.domain}: {exc}") from exc
        if not isinstance(private, rsa.RSAPrivateKey):
            kind = type(private).__name__.removesuffix("PrivateKey")
            problem = ValueError(f"the key is {kind}, and rsa-sha256 needs RSA")
            raise RenderError(f"could not DKIM-sign for {self.domain}: {problem}") from problem
        if private.key_size < MIN_KEY_BITS:
            problem = ValueError(f"{private.key_size} bits; verifiers want {MIN_KEY_BITS}+")
            raise RenderError(f"could not DKIM-sign for {self.domain}: {problem}") from problem
        object.__setattr__(self, "_private", private)
        return private


def relaxed_body(body: bytes) -> bytes:
    """``body`` (CRLF line ends) in relaxed canonical form (RFC 6376 §3.4.4), byte for byte
    what dkimpy's ``Relaxed.canonicalize_body`` gives (tests/test_signing.py checks), at a
    fraction of its cost: its regular expressions stop at each of the thousands of single
    spaces in a digest email, which stay as they are; this looks only for two in a row.
    Runs of spaces and tabs become one space, then the space left at a line's end goes."""
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    body = _single_spaces(body)
    if b" \r\n" in body:
        body = body.replace(b" \r\n", b"\r\n")
    end = len(body)
    while body.endswith(b"\r\n", 0, end):  # empty lines at the end are ignored
        end -= 2
    return body[:end] + b"\r\n" if end else b""


def _split(raw: bytes) -> tuple[list[list[bytes]], bytes]:
    """``raw``'s header fields as dkimpy parses them, and its body with CRLF line ends (what
    a verifier reads after the blank line)."""
    head, blank, body = raw.partition(b"\r\n\r\n")
    if not blank or head.count(b"\n") != head.count(b"\r\n"):
        return dkim.rfc822_parse(raw)  # type: ignore[no-any-return]  # bare LFs: parse it all
    headers = parse_head(head)
    if headers is None:
        headers, _ = dkim.rfc822_parse(head + blank)
    if body.count(b"\n") != body.count(b"\r\n"):
        body = _BARE_LF.sub(b"\r\n", body)
    return headers, body


def parse_head(head: bytes) -> list[list[bytes]] | None:
    """The fields of a header block (CRLF line ends, no blank line) as ``dkim.rfc822_parse``
    gives them, ``[name, value + CRLF]``; None for what only dkimpy should judge (a bare CR or LF,
    a first line that continues nothing, a line that is no field), which it parses or refuses.
    A line at a time instead of its regular expressions (tests/test_signing.py compares)."""
    if not head.count(b"\r") == head.count(b"\n") == head.count(b"\r\n"):
        return None
    fields: list[list[bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not fields:
                return None
            fields[-1][1] += line + b"\r\n"
            continue
        name, colon, value = line.partition(b":")
        if colon and _FIELD_NAME.fullmatch(name):
            fields.append([name, value + b"\r\n"])
        elif not line.startswith(b"From "):  # an mbox "From " line: dkimpy skips it
            return None
    return fields


def _header_hash(
    headers: list[list[bytes]], include: tuple[bytes, ...], fields: list[tuple[bytes, bytes]]
) -> bytes:
    """SHA-256 of the signed headers and the signature header with ``b=`` empty, both
    relaxed, as RFC 6376 §3.7 orders them and ``dkim.hash_headers`` hashes them: for each
    name in ``include`` the last instance not yet taken, bottom up (§5.4.2)."""
    value = b"; ".join(b"=".join(pair) for pair in fields)
    own = dkim.RE_BTAG.sub(rb"\1", b" " + dkim.fold(value, namelen=len(_NAME)))
    names = [name.lower() for name, _ in headers]
    hasher = hashlib.sha256()
    taken: dict[bytes, int] = {}
    for wanted in include:
        i = taken.get(wanted, len(headers))
        while i > 0:
            i -= 1
            if names[i] == wanted:
                hasher.update(names[i].rstrip() + b":" + relaxed_value(headers[i][1]) + b"\r\n")
                break
        taken[wanted] = i
    hasher.update(_NAME.lower() + b":" + relaxed_value(own))
    return hasher.digest()


def relaxed_value(value: bytes) -> bytes:
    """A header field's value in relaxed canonical form (RFC 6376 §3.4.2), without its CRLF:
    unfolded, runs of spaces and tabs one space, none at either end; byte for byte dkimpy's
    ``Relaxed.canonicalize_headers`` (which strips with ``bytes.strip``, as this does)."""
    value = value.replace(b"\r\n", b"")
    if b"\t" in value:
        value = value.replace(b"\t", b" ")
    return _single_spaces(value).strip()


def _single_spaces(data: bytes) -> bytes:
    """Each run of spaces in ``data`` as one space: a few passes of ``bytes.replace``, in C,
    cheaper than a regular expression over a whole message body."""
    while b"  " in data:
        data = data.replace(b"    ", b" ").replace(b"  ", b" ")
    return data


def _present(raw: bytes, names: tuple[bytes, ...]) -> list[bytes]:
    """Those of ``names`` that head a header line of ``raw``."""
    head = b"\r\n" + raw.partition(b"\r\n\r\n")[0].lower()
    return [name for name in names if b"\r\n" + name + b":" in head]
