"""Source specs for the feed and search kinds: shorthands, ``query``, ``announce``, labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from digest.config import load_config
from digest.config.sources import SourceSpec, parse_source_spec
from digest.errors import ConfigError
from digest.models import ParseOptions

CONFIG = """\
sender: {{from: "Papers <papers@lab.example>", postal_address: "1 Road"}}
digests:
  arxiv: {{sources: {sources}, schedule: "0 7 * * mon-fri", timezone: Europe/Paris}}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "arxiv-rss:cs.LG+cs.AI",
            SourceSpec("arxiv-rss", "arxiv-rss", "https://rss.arxiv.org/rss/cs.LG+cs.AI"),
        ),
        ("arxiv-rss:math", SourceSpec("arxiv-rss", "arxiv-rss", "https://rss.arxiv.org/rss/math")),
        (
            "arxiv-rss:https://rss.arxiv.org/atom/cs.CL",
            SourceSpec("arxiv-rss", "arxiv-rss", "https://rss.arxiv.org/atom/cs.CL"),
        ),
        ("arxiv-rss:saved/cs-lg.xml", SourceSpec("arxiv-rss", "arxiv-rss", "saved/cs-lg.xml")),
        ("arxiv-rss:monday.xml", SourceSpec("arxiv-rss", "arxiv-rss", "monday.xml")),
        (
            "hf-search:diffusion   models",
            SourceSpec("hf-search", "hf-search", query="diffusion models"),
        ),
        ("hf-search:search.html", SourceSpec("hf-search", "hf-search", "search.html")),
        (
            "arxiv-api:cat:cs.LG AND ti:diffusion",
            SourceSpec("arxiv-api", "arxiv-api", query="cat:cs.LG AND ti:diffusion"),
        ),
        ("arxiv-api:saved/query.xml", SourceSpec("arxiv-api", "arxiv-api", "saved/query.xml")),
        (
            "feed:https://papers.takara.ai/api/feed",
            SourceSpec("feed", "feed", "https://papers.takara.ai/api/feed"),
        ),
        ("feed:hf-papers.json", SourceSpec("feed", "feed", "hf-papers.json")),
        ("text:captures/a.txt", SourceSpec("text", "text", "captures/a.txt")),
    ],
)
def test_shorthands(text: str, expected: SourceSpec) -> None:
    assert parse_source_spec(text) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"kind": "arxiv-rss", "url": "https://rss.arxiv.org/rss/cs.LG", "announce": ["new"]},
            SourceSpec(
                "arxiv-rss", "arxiv-rss", "https://rss.arxiv.org/rss/cs.LG", announce=("new",)
            ),
        ),
        (
            {"kind": "arxiv-rss", "path": "cs-lg.xml", "announce": "new, Replace,new"},
            SourceSpec("arxiv-rss", "arxiv-rss", "cs-lg.xml", announce=("new", "replace")),
        ),
        (
            {"kind": "arxiv-api", "query": " cat:cs.LG\n AND ti:agents "},
            SourceSpec("arxiv-api", "arxiv-api", query="cat:cs.LG AND ti:agents"),
        ),
        (
            {"kind": "hf-search", "query": "world models", "name": "wm"},
            SourceSpec("wm", "hf-search", query="world models"),
        ),
        (
            {"kind": "arxiv-api", "url": "https://export.arxiv.org/api/query", "query": "all:x"},
            SourceSpec(
                "arxiv-api", "arxiv-api", "https://export.arxiv.org/api/query", query="all:x"
            ),
        ),
        (
            {"kind": "feed", "url": "https://lab.example.org/feed.xml"},
            SourceSpec("feed", "feed", "https://lab.example.org/feed.xml"),
        ),
    ],
)
def test_mappings(raw: dict[str, Any], expected: SourceSpec) -> None:
    assert parse_source_spec(raw, at="digests.arxiv: sources") == expected


def test_announce_reaches_the_parser_options() -> None:
    spec = parse_source_spec({"kind": "arxiv-rss", "path": "a.xml", "announce": ["replace"]})
    assert spec.options == ParseOptions(announce=("replace",))
    assert parse_source_spec("arxiv-rss:cs.LG").options == ParseOptions()


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        (
            {"kind": "arxiv-rss", "path": "a.xml", "announce": ["new", "fresh"]},
            "x: unknown announce type 'fresh'",
            "use new, cross, replace, replace-cross, absonly",
        ),
        (
            {"kind": "arxiv-rss", "path": "a.xml", "announce": 3},
            "x: announce must be a list of announce types, got 3",
            "known: new, cross, replace, replace-cross, absonly",
        ),
        (
            {"kind": "arxiv-rss", "path": "a.xml", "announce": " , "},
            "x: announce is empty",
            "use new, cross",
        ),
        (
            {"kind": "feed", "path": "a.xml", "announce": ["new"]},
            "x: announce is for sources of kind arxiv-rss, not 'feed'",
            "set kind: arxiv-rss",
        ),
        (
            {"kind": "arxiv-rss", "path": "a.xml", "query": "cs.LG"},
            "x: query is for sources of kind hf-search or arxiv-api, not 'arxiv-rss'",
            "set kind: hf-search or kind: arxiv-api",
        ),
        (
            {"kind": "arxiv-api", "query": "  "},
            "x: query must be a non-empty string, got '  '",
            None,
        ),
        (
            {"kind": "hf-search", "query": ["a", "b"]},
            "x: query must be a non-empty string, got ['a', 'b']",
            None,
        ),
        (
            {"kind": "arxiv-api"},
            "x: a source of kind 'arxiv-api' needs a query, a url or a path",
            "for example arxiv-api:diffusion models",
        ),
        ("arxiv-api", "x: a source of kind 'arxiv-api' needs a query, a url or a path", None),
        ("arxiv-rss", "x: a source of kind 'arxiv-rss' needs a url or a path", "arxiv-rss:cs.LG"),
        ({"kind": "feed"}, "x: a source of kind 'feed' needs a url or a path", "feed:https"),
        (
            {"kind": "arxiv-rss", "url": "u", "categories": "cs.LG"},
            "x: unknown key 'categories'",
            "expected one of: kind, url, path, name, period, query, announce",
        ),
    ],
)
def test_bad_options_are_config_errors(value: Any, message: str, hint: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_source_spec(value, at="x")
    assert caught.value.message == message
    if hint is not None:
        assert caught.value.hint is not None and hint in caught.value.hint


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("hf-search:diffusion models", 'hf-search "diffusion models"'),
        ({"kind": "arxiv-api", "query": "cat:cs.LG", "name": "lg"}, 'lg "cat:cs.LG"'),
        ("arxiv-rss:cs.LG", "https://rss.arxiv.org/rss/cs.LG"),
        ("feed:saved/hf-papers.json", "hf-papers.json"),
        ("hf-daily", "hf-daily"),
    ],
)
def test_labels_name_the_source_in_reports(value: Any, label: str) -> None:
    assert parse_source_spec(value).label == label


def test_config_file_sources_carry_query_and_announce(tmp_path: Path) -> None:
    sources = (
        "[arxiv-rss:cs.LG+cs.AI, {kind: arxiv-rss, path: saved/lg.xml, announce: [new]},"
        " {kind: arxiv-api, query: 'cat:cs.CL'}, 'hf-search:diffusion models']"
    )
    path = tmp_path / "schedules.yaml"
    path.write_text(CONFIG.format(sources=sources))
    specs = load_config(path, env={}).digest("arxiv").sources
    assert specs == (
        SourceSpec("arxiv-rss", "arxiv-rss", "https://rss.arxiv.org/rss/cs.LG+cs.AI"),
        SourceSpec("arxiv-rss", "arxiv-rss", str(tmp_path / "saved/lg.xml"), announce=("new",)),
        SourceSpec("arxiv-api", "arxiv-api", query="cat:cs.CL"),
        SourceSpec("hf-search", "hf-search", query="diffusion models"),
    )


def test_config_file_errors_name_the_digest(tmp_path: Path) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(CONFIG.format(sources="[{kind: arxiv-rss, url: u, announce: [old]}]"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "arxiv" in caught.value.message
    assert caught.value.message.endswith("unknown announce type 'old'")
