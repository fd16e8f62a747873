"""schedules.yaml is validated at the door, with errors naming file, digest and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import find_config_path, load_config
from digest.config.sources import SourceSpec, parse_source_spec
from digest.errors import ConfigError

REPO = Path(__file__).parent.parent
SECRET = "0f9e8d7c6b5a4938271605f4e3d2c1b0"  # base_url is public: a short one is refused
GOOD = """\
sender: {from: "Papers <papers@lab.example>", postal_address: "1 Road"}
digests:
  daily: {sources: [hf-daily], schedule: "0 7 * * mon-fri", timezone: Europe/Paris}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(text)
    return path


def test_shipped_config_is_valid() -> None:
    config = load_config(REPO / "schedules.yaml", env={})
    assert [d.name for d in config.digests] == ["daily", "weekly"]
    assert config.digest(None).sources == (SourceSpec("hf-daily", "hf-daily"),)
    assert config.digest("weekly").sources[0].period == "week"
    assert config.smtp.host is None
    assert config.store_path == REPO / "digest-store.json"
    daily = config.digest("daily")
    assert (daily.topic_mode, daily.min_relevance, daily.half_life_days) == ("boost", 0.15, 3.0)


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "DIGEST_STORE": "/data/s.json",
        "DIGEST_SMTP_HOST": "mail.lab.example",
        "DIGEST_SMTP_PORT": "2525",
        "DIGEST_SMTP_USER": "u",
        "DIGEST_SMTP_PASSWORD": "p",
        "DIGEST_SMTP_SECURITY": "tls",
        "DIGEST_SECRET": SECRET,
        "DIGEST_BASE_URL": "https://x.example/",
    }
    config = load_config(write(tmp_path, GOOD), env=env)
    assert config.store_path == Path("/data/s.json")
    assert (config.smtp.host, config.smtp.port, config.smtp.security) == (
        "mail.lab.example",
        2525,
        "tls",
    )
    assert (config.smtp.user, config.smtp.password, config.secret) == ("u", "p", SECRET)
    assert config.base_url == "https://x.example"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD + "  weekly: {sources: [hf-daily], schedule: '0 7 * *', timezone: UTC}\n",
            "digest 'weekly': schedule '0 7 * *' is not a cron expression",
        ),
        (GOOD.replace("Europe/Paris", "Mars/Olympus"), "digest 'daily': timezone 'Mars/Olympus'"),
        (GOOD.replace("mon-fri", "1-5"), "numbers the day of week"),
        (GOOD.replace("timezone:", "sise: 3, timezone:"), "digest 'daily': unknown key 'sise'"),
        (GOOD + "smpt: {}\n", "unknown key 'smpt'"),
        (GOOD.replace('from: "Papers <papers@lab.example>", ', ""), "missing key 'sender.from'"),
        (GOOD.replace('"1 Road"', "''"), "sender.postal_address"),
        (GOOD.replace("hf-daily]", "rss-magic:foo]"), "unknown source kind 'rss-magic'"),
        (GOOD + "smtp: {security: ssl}\n", "smtp.security 'ssl'"),
        (GOOD + "smtp: {port: abc}\n", "smtp.port must be a whole number"),
        ("digests: [1, 2\n", "not valid YAML"),
        (GOOD.replace("  daily:", "  daily news:"), "the name must be letters, digits"),
        (GOOD + "web: {port: 0}\n", "web.port must be at least 1"),
        (GOOD + "web: {per_client_per_hour: many}\n", "web.per_client_per_hour must be a whole"),
        (GOOD + "web: {listen: 1}\n", "web: unknown key 'listen'"),
        (GOOD.replace("timezone:", "topic_mode: only, timezone:"), "topic_mode 'only'"),
        (
            GOOD.replace("timezone:", "min_relevance: 2, timezone:"),
            "digest 'daily': min_relevance must be between 0 and 1, got 2",
        ),
        (
            GOOD.replace("timezone:", "min_relevance: high, timezone:"),
            "min_relevance must be a number, got 'high'",
        ),
        (
            GOOD.replace("timezone:", "half_life_days: 0, timezone:"),
            "half_life_days must be above 0, got 0",
        ),
    ],
)
def test_bad_config_names_file_digest_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_unknown_key_lists_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD.replace("timezone:", "sise: 3, timezone:")), env={})
    assert "expected one of: title, sources, schedule, timezone, size" in str(err.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hf-daily", SourceSpec("hf-daily", "hf-daily")),
        ("text:captures/a.txt", SourceSpec("text", "text", "captures/a.txt")),
        (
            "https://h.example/api/daily_papers",
            SourceSpec("auto", "auto", "https://h.example/api/daily_papers"),
        ),
        ("file:///tmp/x.json", SourceSpec("auto", "auto", "file:///tmp/x.json")),
        ("saved/day.json", SourceSpec("auto", "auto", "saved/day.json")),
        (
            {"kind": "hf-daily", "period": "month"},
            SourceSpec("hf-daily", "hf-daily", None, "month"),
        ),
    ],
)
def test_source_specs(text: object, expected: SourceSpec) -> None:
    assert parse_source_spec(text) == expected


def test_relative_source_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD.replace("[hf-daily]", "[text:caps/a.txt]")), env={})
    assert config.digest("daily").sources[0].location == str(tmp_path / "caps/a.txt")


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("DIGEST_SMTP_PORT", "abc", "environment: DIGEST_SMTP_PORT must be a whole number"),
        ("DIGEST_SMTP_SECURITY", "ssl", "environment: DIGEST_SMTP_SECURITY 'ssl'"),
        ("DIGEST_LOG_LEVEL", "loud", "environment: DIGEST_LOG_LEVEL 'loud'"),
        ("DIGEST_BASE_URL", "ftp://x", "environment: DIGEST_BASE_URL 'ftp://x' must be"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    tmp_path: Path, var: str, value: str, message: str
) -> None:
    """Issue 15, bug 9: DIGEST_SMTP_PORT=abc was blamed on schedules.yaml."""
    with pytest.raises(ConfigError) as found:
        load_config(write(tmp_path, GOOD), {var: value})
    assert str(found.value).startswith(message) and "schedules.yaml" not in str(found.value)


def test_no_config_anywhere_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, bug 9: it said "built-in defaults: missing key 'sender.from'"."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as found:
        find_config_path(None, {})
    said = str(found.value)
    assert said.startswith("no config found: no --config given, DIGEST_CONFIG is not set")
    assert f"no schedules.yaml in {tmp_path}" in said and "--config FILE" in said
    write(tmp_path, GOOD)
    assert find_config_path(None, {}) == Path("schedules.yaml")


@pytest.mark.parametrize(
    ("line", "key", "header"),
    [
        ('from: ". <papers@lab.example>"', "from", "From"),
        (
            'from: "Papers <papers@lab.example>", reply_to: ". <desk@lab.example>"',
            "reply_to",
            "Reply-To",
        ),
    ],
)
def test_a_sender_the_email_package_cannot_write_is_refused_at_the_door(
    tmp_path: Path, line: str, key: str, header: str
) -> None:
    """The stdlib's header parser crashes on a display name such as "."; such a From would
    fail every message, so the config names it instead."""
    text = GOOD.replace('from: "Papers <papers@lab.example>"', line)
    with pytest.raises(ConfigError) as found:
        load_config(write(tmp_path, text), env={})
    assert str(found.value).startswith(
        f"{tmp_path / 'schedules.yaml'}: sender.{key} '. <"
    ) and f"cannot be written as a {header} header" in str(found.value)
    quoted = GOOD.replace("Papers <papers", '\\". \\" <papers')
    assert load_config(write(tmp_path, quoted), env={}).sender.from_address.startswith('". "')


def test_web_workers_is_validated(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD), env={}).web.workers == 1
    config = load_config(write(tmp_path, GOOD + "web: {workers: 4}\n"), env={})
    assert config.web.workers == 4
    for bad in ("0", "65", "two"):
        with pytest.raises(ConfigError, match=r"web\.workers"):
            load_config(write(tmp_path, GOOD + f"web: {{workers: {bad}}}\n"), env={})
