"""DKIM signing: messages verify against the published key, and tampering breaks them."""

from __future__ import annotations

import base64
import dataclasses
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import dkim  # type: ignore[import-untyped]
import pytest
from test_render import EDITION, LINKS, NOW, READER, SETTINGS, TEMPLATES, basic_ranked

from digest.config import DkimConfig
from digest.errors import ConfigError
from digest.models import Email
from digest.render import make_environment
from digest.render.dkim import DkimSigner
from digest.render.edition import EditionRenderer

SELECTOR, DOMAIN = "s2024", "example.org"
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
