"""Message templates: text with ``{{variables}}`` filled in per recipient.

A variable is ``{{name}}`` or ``{{name|default}}``, its name letters (any script), digits, ``_``,
``.``, ``-`` and inner spaces. Names are matched without regard to case, so a contact field that came
from a column ``City`` fills ``{{city}}``. A variable with no value and no default is left empty
and reported as missing (``Rendered.missing``), so a preview can say what a recipient lacks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_VARIABLE = re.compile(r"\{\{\s*([^{}|]+?)\s*(?:\|\s*([^{}]*?)\s*)?\}\}")
_NAME = re.compile(r"[\w.\- ]+")


class TemplateError(ValueError):
    """The body is not a template we can fill: an unclosed ``{{`` or a bad variable name."""


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    missing: tuple[str, ...]  # variables that had neither a value nor a default


def variables(body: str) -> list[str]:
    """The variables ``body`` uses, in order of first use; TemplateError if it is malformed."""
    found: dict[str, None] = {}
    for match in _VARIABLE.finditer(body):
        name = match[1]
        if not _NAME.fullmatch(name):
            raise TemplateError(f"{{{{{name}}}}} is not a variable name (letters, digits, _ . - and spaces)")
        found.setdefault(name, None)
    rest = _VARIABLE.sub("", body)
    if "{{" in rest or "}}" in rest:
        raise TemplateError("a {{ without its }} (or the other way round)")
    return list(found)


def render(body: str, values: Mapping[str, str | None]) -> Rendered:
    """``body`` with its variables filled from ``values`` (keys in any case)."""
    folded = {key.casefold(): value for key, value in values.items() if value not in (None, "")}
    missing: dict[str, None] = {}

    def fill(match: re.Match[str]) -> str:
        value = folded.get(match[1].casefold())
        if value is not None:
            return value
        if match[2] is not None:
            return match[2]
        missing.setdefault(match[1], None)
        return ""

    return Rendered(_VARIABLE.sub(fill, body), tuple(missing))
