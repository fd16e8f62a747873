"""A hostile schedules.yaml or environment gets one ConfigError line, never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from digest.config import load_config
from digest.errors import ConfigError

GOOD = """\
sender: {from: "Papers <papers@lab.example>", postal_address: "1 Road"}
digests:
  daily: {sources: [hf-daily], schedule: "0 7 * * mon-fri", timezone: Europe/Paris}
"""
STRONG = "5f0c2b9e7a4d41c3b8e6f1a2d9c07e5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d"  # openssl rand -hex 32


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "schedules.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str | bytes, env: dict[str, str] | None = None) -> str:
    """The one line load_config refuses ``text`` with (it names the file)."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env=env or {})
    line = str(err.value)
    assert "\n" not in line and str(path) in line
    return line


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (GOOD + "smtp: {port: .inf}\n", "smtp.port"),
        (GOOD + "smtp: {retries: .inf}\n", "smtp.retries"),
        (GOOD + "smtp: {connections: -.inf}\n", "smtp.connections"),
        (GOOD + "smtp: {messages_per_connection: .inf}\n", "smtp.messages_per_connection"),
        (GOOD + "smtp: {bounce_limit: .inf}\n", "smtp.bounce_limit"),
        (GOOD + "web: {port: .inf}\n", "web.port"),
        (GOOD + "web: {per_client_per_hour: .inf}\n", "web.per_client_per_hour"),
        (GOOD + "web: {per_address_per_hour: .inf}\n", "web.per_address_per_hour"),
        (GOOD.replace("timezone:", "size: .inf, timezone:"), "size"),
    ],
)
def test_infinity_in_a_whole_number_setting(tmp_path: Path, text: str, key: str) -> None:
    line = refused(tmp_path, text)
    assert f"{key} must be a whole number, got " in line and line.endswith("inf")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (GOOD + "smtp: {timeout: .inf}\n", "smtp.timeout"),
        (GOOD + "web: {confirm_hours: .inf}\n", "web.confirm_hours"),
        (GOOD + "scheduler: {catch_up_hours: .inf}\n", "scheduler.catch_up_hours"),
        (GOOD + "scheduler: {catch_up_hours: 1e300}\n", "scheduler.catch_up_hours"),
        (GOOD.replace("timezone:", "half_life_days: .inf, timezone:"), "half_life_days"),
    ],
)
def test_infinity_or_an_overflowing_number(tmp_path: Path, text: str, key: str) -> None:
    assert f"{key} must be" in refused(tmp_path, text)


def test_a_port_above_65535(tmp_path: Path) -> None:
    line = refused(tmp_path, GOOD + "smtp: {port: 70000}\n")
    assert "smtp.port must be at most 65535, got 70000" in line


def test_deep_nesting(tmp_path: Path) -> None:
    assert "nested deeper than" in refused(tmp_path, GOOD + "log: " + "[" * 5000 + "]" * 5000)


def test_not_utf8(tmp_path: Path) -> None:
    assert "not UTF-8" in refused(tmp_path, GOOD.encode() + b"# caf\xe9\n")


def alias_bomb(levels: int = 9) -> str:
    """A list whose last item refers nine times to the one before, ``levels`` deep (9**9)."""
    items = ['&a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghi", "bcdefghij"[: levels - 1], strict=False):
        items.append(f"&{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "[" + ", ".join(items) + "]"


def test_alias_bomb_in_title_is_refused_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("timezone:", f"title: {alias_bomb()}, timezone:")
    start = time.perf_counter()
    line = refused(tmp_path, text)
    assert time.perf_counter() - start < 0.5
    assert "aliases" in line


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    text = GOOD.replace("daily: {", "daily: &d {") + "  again: *d\n"
    assert [d.name for d in load_config(write(tmp_path, text), env={}).digests] == [
        "daily",
        "again",
    ]


def test_a_title_must_be_text(tmp_path: Path) -> None:
    line = refused(tmp_path, GOOD.replace("timezone:", "title: [a, b], timezone:"))
    assert "digest 'daily': title must be text" in line


@pytest.mark.parametrize("key", ["reply_to", "envelope_from", "unsubscribe_mailto"])
def test_line_breaks_in_a_header_address(tmp_path: Path, key: str) -> None:
    text = GOOD.replace('"1 Road"', f'"1 Road", {key}: "a@lab.example\\r\\nBcc: b@x.example"')
    assert f"sender.{key} holds a line break" in refused(tmp_path, text)


def test_line_break_in_the_from_name(tmp_path: Path) -> None:
    text = GOOD.replace('"Papers <', '"Papers\\nBcc: b@x.example <')
    assert "sender.from holds a line break" in refused(tmp_path, text)


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ('"a\\0b.json"', "store holds a NUL character"),
        ("x" * 300 + ".json", "store path is too long"),
        ("/".join(["abcdefgh"] * 600), "store path is too long"),
    ],
)
def test_bad_store_path(tmp_path: Path, store: str, expected: str) -> None:
    assert expected in refused(tmp_path, GOOD + f"store: {store}\n")


def test_bad_store_path_from_the_environment(tmp_path: Path) -> None:
    line = refused(tmp_path, GOOD, env={"DIGEST_STORE": "/tmp/" + "y" * 300})
    assert "DIGEST_STORE path is too long" in line


@pytest.mark.parametrize("zone", ["Europe", "America", "a" * 5000, "../../../etc/passwd"])
def test_a_timezone_that_is_a_folder_or_too_long(tmp_path: Path, zone: str) -> None:
    line = refused(tmp_path, GOOD.replace("Europe/Paris", zone))
    assert "digest 'daily': timezone" in line and "is not an IANA timezone" in line


@pytest.mark.parametrize("secret", ["x", "s" * 64, "test-secret-" + "x" * 20, "ab" * 32])
def test_a_weak_secret_is_refused_for_a_public_site(tmp_path: Path, secret: str) -> None:
    env = {"DIGEST_SECRET": secret, "DIGEST_BASE_URL": "https://papers.example.org"}
    line = refused(tmp_path, GOOD, env=env)
    assert "DIGEST_SECRET is too weak" in line and "openssl rand -hex 32" in line
    assert secret not in line or secret == "x"


def test_a_strong_secret_and_a_local_weak_one_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    public = {"DIGEST_SECRET": STRONG, "DIGEST_BASE_URL": "https://papers.example.org"}
    assert load_config(path, env=public).secret == STRONG
    local = {"DIGEST_SECRET": "x", "DIGEST_BASE_URL": "http://localhost:8000"}
    assert load_config(path, env=local).secret == "x"


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:8000", True),
        ("http://LOCALHOST", True),
        ("http://127.0.0.1:8000/digest", True),
        ("http://127.8.9.10", True),
        ("http://[::1]:8000", True),
        ("https://127.0.0.1:1@digest.example.org", False),
        ("https://localhost@digest.example.org", False),
        ("https://localhost.digest.example.org", False),
        ("https://digest.example.org/localhost", False),
        ("https://128.0.0.1", False),
        ("https://[::2]", False),
    ],
)
def test_local_is_decided_by_the_host_alone(url: str, local: bool) -> None:
    from digest.config.settings import is_local_url

    assert is_local_url(url) is local


def test_userinfo_in_base_url_does_not_make_it_local(tmp_path: Path) -> None:
    env = {"DIGEST_SECRET": "x", "DIGEST_BASE_URL": "https://127.0.0.1:1@digest.example.org"}
    assert "DIGEST_SECRET is too weak" in refused(tmp_path, GOOD, env=env)
