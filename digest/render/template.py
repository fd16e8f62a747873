"""Templates: the Jinja environment, rendering with operator-readable errors, CSS inlining.

The shared ground of the straightforward renderer (:mod:`digest.render`) and the fast one
(:mod:`digest.render.edition`): both render the same files through these functions, so a
template error reads the same whichever path met it.

Templates mark their repeated parts with the comments in :data:`WRITTEN_MARKERS` (see
templates/email.html.j2). As a template is loaded, each becomes its :data:`MARKERS`
counterpart, the same comment with a Unicode noncharacter in it: text cleaned at the
parser's door (:mod:`digest.parse.clean`) never holds one, so a paper whose title is
``<!--paper-->`` is a title, not a marker. :func:`strip_markers` takes the markers out of
what a reader receives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import css_inline
import jinja2

from digest.config import Config
from digest.errors import RenderError

# A wheel carries templates/ as the digest.templates package; in a checkout it sits at the top
# of the repository, where operators look for it.
_PACKAGE = Path(__file__).resolve().parent.parent
SHIPPED_TEMPLATES = next(
    (d for d in (_PACKAGE / "templates", _PACKAGE.parent / "templates") if d.is_dir()),
    _PACKAGE.parent / "templates",
)
HTML_TEMPLATE = "email.html.j2"
TEXT_TEMPLATE = "email.txt.j2"
WRITTEN_MARKERS = ("<!--paper-->", "<!--/paper-->", "<!--notice-->", "<!--/notice-->")
_OWN = "\ufdd0"  # a noncharacter: for a program's internal use, never in clean text
MARKERS = tuple(marker.replace("<!--", "<!--" + _OWN) for marker in WRITTEN_MARKERS)
PAPER_START, PAPER_END, NOTICE_START, NOTICE_END = MARKERS
# A marker and the line break after it, if any: the marker lines vanish from the output.
MARKER_PATTERN = re.compile("(" + "|".join(re.escape(m) for m in MARKERS) + ")\n?")
_INLINER = css_inline.CSSInliner(
    keep_at_rules=True,  # @media (max-width) and (prefers-color-scheme) stay in <style>
    load_remote_stylesheets=False,  # never fetch at render time (SSRF, hangs)
    minify_css=True,
)


class _MarkedLoader(jinja2.FileSystemLoader):
    """Templates from files, their written markers made ours (:data:`MARKERS`)."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        for written, own in zip(WRITTEN_MARKERS, MARKERS, strict=True):
            source = source.replace(written, own)
        return source, filename, uptodate


def make_environment(template_dirs: Sequence[Path]) -> jinja2.Environment:
    """A Jinja environment over ``template_dirs``, the first (an operator's) winning."""
    return jinja2.Environment(
        loader=_MarkedLoader([str(d) for d in template_dirs]),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template_env(config: Config) -> jinja2.Environment:
    """The operator's ``templates:`` folder, if any, in front of the shipped templates."""
    dirs = [d for d in (config.templates, SHIPPED_TEMPLATES) if d is not None]
    return make_environment(dirs)


def render_template(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    """Template ``name`` rendered with ``context``; RenderError naming the file on failure."""
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {name} not found in {_search_path(env)}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"template {exc.filename}:{exc.lineno}: {exc.message}") from exc
    try:
        return template.render(context)
    except (jinja2.TemplateError, TypeError, ValueError) as exc:  # an operator's template
        raise RenderError(
            f"template {template.filename} failed: {exc}",
            hint=f"the variables it may use are: {', '.join(context)}",
        ) from exc


def inline_css(html: str) -> str:
    """``html`` with its CSS inlined into style attributes, ending in a line break."""
    try:
        inlined: str = _INLINER.inline(html)
    except css_inline.InlineError as exc:
        raise RenderError(f"could not inline the email's CSS: {exc}") from exc
    return inlined if inlined.endswith("\n") else inlined + "\n"  # as MIME will send it


def ascii_html(html: str) -> str:
    """``html`` in ASCII, anything else as a numeric character reference: the HTML part then
    travels as 7bit, with lines a relay keeps whole, instead of quoted-printable."""
    return html.encode("ascii", "xmlcharrefreplace").decode("ascii")


def strip_markers(rendered: str) -> str:
    """``rendered`` without the marker comments (and the line breaks right after them)."""
    return MARKER_PATTERN.sub("", rendered)


def _search_path(env: jinja2.Environment) -> str:
    loader = env.loader
    dirs = loader.searchpath if isinstance(loader, jinja2.FileSystemLoader) else []
    return ", ".join(dirs) or "(no template directories)"
