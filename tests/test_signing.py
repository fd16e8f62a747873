"""DKIM signing: messages verify against the published key, and tampering breaks them."""

from __future__ import annotations

import base64
import dataclasses
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.header import Header
from pathlib import Path

import dkim  # type: ignore[import-untyped]
import pytest
from conftest import CONFIG_TEMPLATE, SAMPLE, WEEKLY_DIGEST
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from dkim.canonicalization import Relaxed  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from test_render import EDITION, LINKS, NOW, READER, SETTINGS, TEMPLATES, basic_ranked

from digest.config import DkimConfig, load_config
from digest.config.sources import parse_source_spec
from digest.errors import ConfigError
from digest.models import Email, Subscriber
from digest.parse import parse_bytes
from digest.pipeline.compose import Composer, EditionRequest
from digest.render import make_environment
from digest.render.dkim import DkimSigner, parse_head, relaxed_body, relaxed_value
from digest.render.edition import EditionRenderer
from digest.store import History

SELECTOR, DOMAIN = "s2024", "example.org"
SECRET = "signing-test-0123456789abcdefghijkl"
DnsFunc = Callable[..., bytes]


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh 2048-bit RSA private key in PEM, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a key")
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    command = ["openssl", "genrsa", "-out", str(path), "2048"]
    subprocess.run(command, check=True, capture_output=True)
    return path


@pytest.fixture(scope="session")
def dns(key_file: Path) -> DnsFunc:
    """A resolver answering the selector's TXT record with the key's public half."""
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key_file), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return lookup


@pytest.fixture(scope="session")
def signer(key_file: Path) -> DkimSigner:
    """The signer the operator's config would make."""
    return DkimSigner.from_config(DkimConfig(SELECTOR, key_file, DOMAIN))


def signed_email(signer: DkimSigner, settings: object = SETTINGS) -> Email:
    env = make_environment([TEMPLATES])
    renderer = EditionRenderer(EDITION, settings, env, NOW, signer=signer)  # type: ignore[arg-type]
    return renderer.render(READER, basic_ranked(), LINKS)


def tags(raw: bytes) -> dict[str, str]:
    """The tags of the DKIM-Signature that heads ``raw``."""
    assert raw.startswith(b"DKIM-Signature: ")
    header = raw.split(b"\r\n", 1)[0]
    rest = raw[len(header) + 2 :]
    while rest.startswith((b" ", b"\t")):  # folded continuation lines
        line, _, rest = rest.partition(b"\r\n")
        header += line
    value = header.decode().split(":", 1)[1]
    pairs = (item.strip().split("=", 1) for item in value.split(";") if item.strip())
    return {k.strip(): "".join(v.split()) for k, v in pairs}


def test_a_signed_email_verifies(signer: DkimSigner, dns: DnsFunc) -> None:
    mail = signed_email(signer)
    assert dkim.verify(mail.raw, dnsfunc=dns)
    assert mail.raw.count(b"DKIM-Signature:") == 1


def test_the_signature_covers_one_click_unsubscribe(signer: DkimSigner) -> None:
    found = tags(signed_email(signer).raw)
    signed = found["h"].lower().split(":")
    for name in ("from", "to", "subject", "date", "message-id", "mime-version", "content-type"):
        assert name in signed
    assert "list-unsubscribe" in signed and "list-unsubscribe-post" in signed
    assert signed.count("list-unsubscribe-post") == 2  # oversigned: none may be added
    assert "list-id" in signed
    assert found["c"] == "relaxed/relaxed"
    assert found["d"] == DOMAIN and found["s"] == SELECTOR
    assert "l" not in found  # no body length: nothing may be appended to a signed body


def test_reply_to_is_signed_when_present(signer: DkimSigner, dns: DnsFunc) -> None:
    settings = dataclasses.replace(SETTINGS, reply_to="Editors <editors@example.org>")
    mail = signed_email(signer, settings)
    assert "reply-to" in tags(mail.raw)["h"].lower().split(":")
    assert dkim.verify(mail.raw, dnsfunc=dns)


@pytest.mark.parametrize(
    ("find", "replace"),
    [
        (b"Subject: Daily Papers", b"Subject: Weekly Papers"),
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"),
        (b"You receive this because", b"You got this because"),
    ],
)
def test_a_tampered_message_fails_verification(
    signer: DkimSigner, dns: DnsFunc, find: bytes, replace: bytes
) -> None:
    raw = signed_email(signer).raw
    assert find in raw
    assert not dkim.verify(raw.replace(find, replace, 1), dnsfunc=dns)


def test_an_added_unsubscribe_post_header_fails_verification(
    signer: DkimSigner, dns: DnsFunc
) -> None:
    raw = signed_email(signer).raw
    forged = raw.replace(b"\r\nFrom: ", b"\r\nList-Unsubscribe-Post: evil\r\nFrom: ", 1)
    assert not dkim.verify(forged, dnsfunc=dns)


def test_a_missing_key_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match=r"nope\.pem") as caught:
        DkimSigner.from_config(DkimConfig(SELECTOR, missing, DOMAIN))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a key at all\n", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
)
def test_a_file_that_is_not_a_key_is_a_config_error_naming_it(
    tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(content)
    with pytest.raises(ConfigError, match=r"bad\.pem") as caught:
        DkimSigner.from_config(DkimConfig(SELECTOR, bad, DOMAIN))
    assert "\n" not in str(caught.value)


def test_a_key_shorter_than_verifiers_accept_is_a_config_error(tmp_path: Path) -> None:
    short = tmp_path / "short.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(short), "768"], check=True, capture_output=True
    )
    with pytest.raises(ConfigError, match=r"short\.pem.*768 bits") as caught:
        DkimSigner.from_config(DkimConfig(SELECTOR, short, DOMAIN))
    assert "\n" not in str(caught.value)


def test_a_key_that_is_not_rsa_is_a_config_error_naming_its_kind(tmp_path: Path) -> None:
    curve = tmp_path / "ec.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    curve.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(
        ConfigError, match=r"ec\.pem.*the key is EC, and rsa-sha256 needs RSA"
    ) as caught:
        DkimSigner.from_config(DkimConfig(SELECTOR, curve, DOMAIN))
    assert "\n" not in str(caught.value)


def test_the_body_hash_is_the_one_dkimpy_computes(signer: DkimSigner, key_file: Path) -> None:
    raw = signed_email(signer).raw.split(b"\r\n", 1)[1]
    while raw.startswith((b" ", b"\t")):  # the rest of our DKIM-Signature
        raw = raw.split(b"\r\n", 1)[1]
    theirs = dkim.sign(
        raw, b"s", DOMAIN.encode(), key_file.read_bytes(), canonicalize=(b"relaxed", b"relaxed")
    )
    assert tags(signer.sign(raw))["bh"] == tags(theirs + raw)["bh"]


# Bodies of spaces, tabs, line ends and text, in runs: what relaxed canonicalisation rewrites.
_body_pieces = st.sampled_from([" ", "  ", "\t", " \t ", "\r\n", "\r\n\r\n", "x", "héllo", "a b"])
bodies = st.lists(_body_pieces, max_size=40).map(lambda parts: "".join(parts).encode())


@given(bodies)
def test_relaxed_body_is_byte_for_byte_dkimpys(body: bytes) -> None:
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


# Each at most once, so that with the From below none is in the message more often than the
# signature names it (dkim.verify refuses that, as it should: the extra one is unsigned).
_names = st.lists(
    st.sampled_from(["To", "Subject", "Date", "Reply-To", "Feedback-ID", "X-Mailer", "List-Id"]),
    unique=True,
    max_size=7,
)
_words = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
    min_size=1,
    max_size=12,
)
_gaps = st.sampled_from([" ", "  ", "\t", "\r\n ", "\r\n\t", " \r\n  "])  # folds among them


@st.composite
def header_line(draw: st.DrawFn, name: str) -> bytes:
    """A header field: words with spaces, tabs and folds between, maybe trailing WSP."""
    words = draw(st.lists(_words, min_size=1, max_size=30))
    value = words[0] + "".join(draw(_gaps) + word for word in words[1:])
    return f"{name}:{draw(st.sampled_from(['', ' ', '  ']))}{value}".encode()


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A message with the headers a digest email has (some twice), others, a non-ASCII
    subject as an encoded word, long lines, and a body canonicalisation has work on."""
    subject = draw(st.text(min_size=1, max_size=120).filter(lambda s: s.strip()))
    head = [
        b"From: Papers <papers@example.org>",
        b"Subject: " + Header(subject, "utf-8").encode(maxlinelen=76).encode(),
        *(draw(header_line(name)) for name in draw(_names)),
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    ]
    lines = draw(st.lists(st.one_of(bodies, st.just(b"y" * 990)), max_size=12))
    end = draw(st.sampled_from([b"", b"\r\n", b"\r\n\r\n\r\n"]))
    return b"\r\n".join(draw(st.permutations(head))) + b"\r\n\r\n" + b"\r\n".join(lines) + end


@settings(max_examples=200, deadline=None)
@given(messages())
def test_the_header_block_is_parsed_and_relaxed_as_dkimpy_does(raw: bytes) -> None:
    head = raw.partition(b"\r\n\r\n")[0].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    mine = parse_head(head)
    assert mine is not None
    theirs, _ = dkim.rfc822_parse(head + b"\r\n\r\n")
    assert mine == theirs
    relaxed = [(n.lower().rstrip(), relaxed_value(v) + b"\r\n") for n, v in mine]
    assert relaxed == Relaxed.canonicalize_headers(theirs)


@pytest.mark.parametrize(
    "head",
    [b" continues nothing: x", b"Bad Name: x", b"Subject: a\rb", b"To: a\nX: b", b"\r\nX: b"],
)
def test_a_header_block_only_dkimpy_should_judge_is_left_to_it(head: bytes) -> None:
    assert parse_head(head) is None


@given(st.lists(st.sampled_from([b" ", b"  ", b"\t", b"\r\n ", b"\x0b", b"a", b"b c"])))
def test_a_relaxed_header_value_is_byte_for_byte_dkimpys(pieces: list[bytes]) -> None:
    value = b"".join(pieces) + b"\r\n"
    assert relaxed_value(value) + b"\r\n" == Relaxed.canonicalize_headers([(b"X", value)])[0][1]


@settings(max_examples=150, deadline=None)
@given(messages())
def test_every_signature_verifies(signer: DkimSigner, dns: DnsFunc, raw: bytes) -> None:
    signed = signer.sign(raw)
    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"From: Papers", b"From: Paper$", 1), dnsfunc=dns)


@settings(max_examples=25, deadline=None)
@given(messages())
def test_a_signature_survives_a_relay_that_refolds_and_trims(
    signer: DkimSigner, dns: DnsFunc, raw: bytes
) -> None:
    """What relaxed/relaxed is for: whitespace changes on the way do not break it."""
    signed = signer.sign(raw)
    head, _, body = signed.partition(b"\r\n\r\n")
    relayed = head.replace(b"\r\n\t", b"\r\n ") + b"\r\n\r\n" + body.replace(b" \r\n", b"\r\n")
    assert dkim.verify(relayed, dnsfunc=dns)


def test_a_body_with_bare_line_feeds_is_signed_as_a_verifier_reads_it(
    signer: DkimSigner, dns: DnsFunc
) -> None:
    raw = b"From: a@example.org\r\nSubject: x\r\n\r\nline one\nline two  \n\n"
    assert dkim.verify(signer.sign(raw), dnsfunc=dns)


@pytest.fixture(scope="module")
def composer(
    tmp_path_factory: pytest.TempPathFactory, key_file: Path
) -> Callable[[Subscriber], Email]:
    """Real digest emails, as a send makes them: the shipped HF day (31 papers), the test
    config with a weekly digest too, each reader's own ranking, signed with the test key."""
    folder = tmp_path_factory.mktemp("real")
    config_path = folder / "schedules.yaml"
    text = CONFIG_TEMPLATE.format(
        store=folder / "store.json", outbox=folder / "outbox", smtp_host="null", smtp_port=25
    )
    config_path.write_text(text + WEEKLY_DIGEST)
    config = load_config(config_path, env={"DIGEST_SECRET": SECRET})
    spec = parse_source_spec(str(SAMPLE))
    papers = parse_bytes(SAMPLE.read_bytes(), kind=spec.kind, source="", today=date(2025, 11, 26))
    signer = DkimSigner.from_config(DkimConfig(SELECTOR, key_file, DOMAIN))
    made = {
        name: Composer(
            EditionRequest(config.digest(name), date(2025, 11, 26), datetime.now(UTC), (spec,)),
            papers.papers,
            config=config,
            secret=SECRET,
            signer=signer,
        )
        for name in ("daily", "weekly")
    }

    def compose(sub: Subscriber) -> Email:
        email = made[sub.digests[0]].compose(sub, History())
        assert isinstance(email, Email), email
        return email

    return compose


_topics = st.lists(
    st.sampled_from(
        ["diffusion", "video generation", "agents", "reasoning", "réseaux", "ロボット"]
    ),
    unique=True,
    max_size=3,
)


@settings(max_examples=20, deadline=None)
@given(topics=_topics, digest=st.sampled_from(["daily", "weekly"]), n=st.integers(0, 999))
def test_real_digest_emails_verify(
    composer: Callable[[Subscriber], Email], dns: DnsFunc, topics: list[str], digest: str, n: int
) -> None:
    reader = Subscriber(f"réader{n}@example.org", f"id{n}", digests=(digest,), topics=tuple(topics))
    raw = composer(reader).raw
    assert len(raw) > 20_000  # a whole email: both parts, ten or more papers
    assert dkim.verify(raw, dnsfunc=dns)
