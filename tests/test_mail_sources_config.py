"""inbound.imap and inbound.webhooks in schedules.yaml: defaults, secrets from the
environment only, and one clear error for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import Config, load_config
from digest.config.mail_sources import ImapTls
from digest.errors import ConfigError

BASE = "sender: {from: papers@example.org, postal_address: '1 Way'}\n"


def _load(tmp_path: Path, inbound: str, env: dict[str, str] | None = None) -> Config:
    path = tmp_path / "schedules.yaml"
    path.write_text(BASE + "inbound:\n" + inbound)
    return load_config(path, env or {})


def test_imap_defaults_and_the_password_from_the_environment(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        "  imap: {host: imap.example.org, user: bounces}\n",
        {"DIGEST_IMAP_PASSWORD": "pw"},
    )
    imap = config.inbound.imap
    assert imap is not None
    assert (imap.port, imap.tls, imap.folder) == (993, ImapTls.SSL, "INBOX")
    assert imap.processed_folder == "digest-processed"
    assert imap.poll_minutes == 5.0
    assert imap.password == "pw"
    assert "pw" not in repr(config)


def test_imap_starttls_defaults_to_port_143_and_no_section_is_none(tmp_path: Path) -> None:
    config = _load(tmp_path, "  imap: {host: h, user: u, tls: starttls}\n")
    assert config.inbound.imap is not None and config.inbound.imap.port == 143
    assert config.inbound.imap.password is None
    assert _load(tmp_path, "  soft_bounce_limit: 2\n").inbound.imap is None


@pytest.mark.parametrize(
    ("imap", "message"),
    [
        ("{host: h}", "missing key 'user'"),
        ("{host: h, user: u, password: secret}", "unknown key 'password'"),
        ("{host: h, user: u, tls: yes-please}", "tls"),
        ("{host: h, user: u, port: 0}", "port must be at least 1"),
        ("{host: h, user: u, folder: INBOX, processed_folder: INBOX}", "the folder itself"),
        ("{host: h, user: u, poll_minutes: 0}", "poll_minutes must be above 0"),
        ("[h, u]", "must be a mapping"),
    ],
)
def test_bad_imap_settings_are_one_error_naming_the_key(
    tmp_path: Path, imap: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, f"  imap: {imap}\n")


def test_webhooks_take_their_secrets_from_the_variables_they_name(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        "  webhooks:\n"
        "    ses: {topic_arns: ['arn:aws:sns:eu-west-1:123456789012:bounces']}\n"
        "    postmark: {user: pm, password_env: DIGEST_POSTMARK_PASSWORD}\n"
        "    mailgun: {signing_key_env: DIGEST_MAILGUN_KEY}\n"
        "    sendgrid: {public_key: MFkwEw}\n",
        {"DIGEST_POSTMARK_PASSWORD": "pm-secret", "DIGEST_MAILGUN_KEY": "mg-secret"},
    )
    hooks = config.inbound.webhooks
    assert hooks.ses is not None and hooks.ses.topic_arns == (
        "arn:aws:sns:eu-west-1:123456789012:bounces",
    )
    assert hooks.postmark is not None and hooks.postmark.password.value == "pm-secret"
    assert hooks.mailgun is not None and hooks.mailgun.signing_key.value == "mg-secret"
    assert hooks.sendgrid is not None and hooks.sendgrid.public_key == "MFkwEw"
    assert "pm-secret" not in repr(config) and "mg-secret" not in repr(config)


@pytest.mark.parametrize(
    ("webhooks", "message"),
    [
        ("{ses: {}}", "topic_arns must list"),
        ("{ses: {topic_arns: [not-an-arn]}}", "not an SNS topic ARN"),
        ("{postmark: {user: pm, password: hunter2}}", "unknown key 'password'"),
        ("{postmark: {user: pm, password_env: 'hunter 2'}}", "not an environment variable"),
        ("{mailgun: {}}", "missing key 'signing_key_env'"),
        ("{sendgrid: {}}", "missing key 'public_key'"),
        ("{sparkpost: {}}", "unknown key 'sparkpost'"),
    ],
)
def test_bad_webhook_settings_are_one_error(tmp_path: Path, webhooks: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, f"  webhooks: {webhooks}\n")
