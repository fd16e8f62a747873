"""Every message says where its failures go: a VERP return path and a tokened mailto address
per (reader, edition), signed, short and safe from MTAs that fold the case of local parts."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_render import EDITION, NOW, SETTINGS, TEMPLATES, basic_ranked
from test_render_edition import READERS, edition_papers, personal

from digest.config import Config, load_config
from digest.errors import InputError, RenderError
from digest.links import (
    UNSUBSCRIBE_MAILTO,
    VERP,
    address_token,
    make_mail_token,
    read_mail_token,
    tagged_address,
)
from digest.models import Links, Subscriber
from digest.pipeline.compose import make_links
from digest.render import make_environment, render_email
from digest.render.edition import EditionRenderer

SECRET = "a-test-secret-that-is-long-enough-0123456789"
DIGESTS = ("daily", "weekly")


@pytest.fixture
def env() -> jinja2.Environment:
    return make_environment([TEMPLATES])


def verp_config(config_file: Callable[..., Path], envelope: bool = True) -> Config:
    extra = "  envelope_from: bounces@bounce.example.org\n" if envelope else ""
    path = config_file()
    text = path.read_text().replace("sender:\n", "sender:\n" + extra)
    path.write_text(text)
    return load_config(path, {})


# --- tokens --------------------------------------------------------------------------------


def test_a_token_names_its_reader_and_edition_whatever_the_case() -> None:
    token = make_mail_token(SECRET, VERP, "0123456789abcdef", "daily/2025-11-25")
    assert re.fullmatch(r"[a-z2-7]+", token) and len(token) == 39
    for seen in (token, token.upper(), token.swapcase()):
        assert read_mail_token(SECRET, VERP, seen, DIGESTS) == (
            "0123456789abcdef",
            "daily/2025-11-25",
        )


def test_a_token_is_refused_when_forged_altered_or_for_another_purpose() -> None:
    token = make_mail_token(SECRET, VERP, "0123456789abcdef", "weekly/2025-11-24")
    with pytest.raises(InputError, match="altered or forged"):
        read_mail_token("another-secret", VERP, token, DIGESTS)
    with pytest.raises(InputError, match="altered or forged"):
        read_mail_token(SECRET, UNSUBSCRIBE_MAILTO, token, DIGESTS)
    altered = ("b" if token[20] != "b" else "c").join((token[:20], token[21:]))
    with pytest.raises(InputError, match="not valid"):
        read_mail_token(SECRET, VERP, altered, DIGESTS)
    with pytest.raises(InputError, match="no longer configured"):
        read_mail_token(SECRET, VERP, token, ("daily",))
    with pytest.raises(InputError, match="not one of ours"):
        read_mail_token(SECRET, VERP, "not base32 at all!", DIGESTS)


@given(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=20),
    st.dates(),
)
def test_any_subscriber_id_and_date_round_trip(sub_id: str, day: object) -> None:
    edition = f"daily/{day}"
    try:
        token = make_mail_token(SECRET, VERP, sub_id, edition)
    except InputError:
        return  # a date outside the 2000 to 2179 window a token can name
    assert read_mail_token(SECRET, VERP, token, DIGESTS) == (sub_id, edition)


def test_a_tagged_address_keeps_its_local_part_within_64_octets() -> None:
    token = make_mail_token(SECRET, VERP, "0123456789abcdef", "daily/2025-11-25")
    tagged = tagged_address("bounces@example.org", token)
    assert tagged == f"bounces+{token}@example.org"
    assert address_token(tagged.upper()) == token
    assert address_token("plain@example.org") is None
    assert address_token("ada+news@example.org") is None  # a reader's own tag is no token
    assert tagged_address("a-very-long-bounce-mailbox-name@example.org", token) is None


# --- the links and the return path of a reader's email ------------------------------------


def test_the_return_path_and_mailto_carry_the_readers_token(
    config_file: Callable[..., Path],
) -> None:
    config = verp_config(config_file)
    sub = Subscriber("ada@example.com", "0123456789abcdef")
    links = make_links(config, SECRET, sub, EDITION)
    assert links.return_path is not None and links.unsubscribe_mailto is not None
    verp = address_token(links.return_path)
    assert links.return_path == f"bounces+{verp}@bounce.example.org"
    assert read_mail_token(SECRET, VERP, verp or "", DIGESTS) == (sub.id, EDITION.key)
    mailto = re.fullmatch(r"mailto:(.+)\?subject=unsubscribe", links.unsubscribe_mailto)
    assert mailto is not None and mailto[1].startswith("unsubscribe+")
    token = address_token(mailto[1]) or ""
    assert read_mail_token(SECRET, UNSUBSCRIBE_MAILTO, token, DIGESTS) == (sub.id, EDITION.key)


def test_without_envelope_from_the_from_address_is_the_return_path(
    config_file: Callable[..., Path], env: jinja2.Environment
) -> None:
    config = verp_config(config_file, envelope=False)
    sub = Subscriber("ada@example.com", "0123456789abcdef")
    links = make_links(config, SECRET, sub, EDITION)
    assert links.return_path is None
    email = render_email(EDITION, sub, basic_ranked(), links, SETTINGS, NOW, env)
    assert email.envelope_from == "papers@example.org"


def test_each_reader_gets_their_own_return_path_in_the_fast_and_full_renderers_alike(
    config_file: Callable[..., Path], env: jinja2.Environment
) -> None:
    config = verp_config(config_file)
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    seen = set()
    for n in range(12):
        reader = dataclasses.replace(READERS[n % len(READERS)], id=f"{n:016x}")
        links = make_links(config, SECRET, reader, EDITION)
        ranked = personal(n, edition_papers())
        fast = renderer.render(reader, ranked, links)
        assert fast == render_email(EDITION, reader, ranked, links, SETTINGS, NOW, env)
        assert fast.envelope_from == links.return_path
        assert links.unsubscribe_mailto is not None
        assert b"<" + links.unsubscribe_mailto.encode() + b">" in fast.raw
        seen.add(fast.envelope_from)
    assert len(seen) == 12 and renderer.fast, renderer.slow_reason


def test_a_template_may_show_the_return_path_as_a_slot(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    for name in ("email.html.j2", "email.txt.j2"):
        shipped = (TEMPLATES / name).read_text()
        shown = "Bounces go to {{ links.return_path }}.\n"
        (folder / name).write_text(shipped.replace("{{ postal_address }}", shown, 1))
    env = make_environment([folder, TEMPLATES])
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    for n in range(3):
        links = dataclasses.replace(_links(n), return_path=f"bounces+r{n}@example.org")
        fast = renderer.render(READERS[0], basic_ranked(), links)
        assert fast == render_email(EDITION, READERS[0], basic_ranked(), links, SETTINGS, NOW, env)
        assert f"bounces+r{n}@example.org".encode() in fast.raw
    assert renderer.fast, renderer.slow_reason


def test_a_return_path_that_is_no_address_is_refused(env: jinja2.Environment) -> None:
    links = dataclasses.replace(_links(0), return_path="bounces@example.org\r\nBcc: x@y")
    with pytest.raises(RenderError, match="return path"):
        EditionRenderer(EDITION, SETTINGS, env, NOW).render(READERS[0], basic_ranked(), links)


def _links(n: int) -> Links:
    return Links(
        unsubscribe_url=f"https://papers.example.org/unsubscribe/t{n}",
        unsubscribe_mailto=None,
        preferences_url=f"https://papers.example.org/preferences/t{n}",
        archive_url="https://papers.example.org/archive/daily/2024-06-11",
    )
