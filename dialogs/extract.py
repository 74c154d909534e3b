"""A babel extractor for trial files, so `pybabel extract` finds their texts.

Registered as the `trial` extraction method (see pyproject.toml); babel.cfg
maps `dialogs/trials/*.yaml` to it. Each message carries a comment naming
where it comes from (`question age`, `criterion E3 explanation`), which is
what a translator sees beside it in the catalog.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import yaml

_TRIAL_FIELDS = ("title", "site", "intro")
_QUESTION_FIELDS = ("text", "label", "help")
_CRITERION_FIELDS = ("text", "explanation")


def extract(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Yield (line, function, message, comments) for every text in a trial file."""
    node = yaml.compose(fileobj.read().decode("utf-8"))
    if not isinstance(node, yaml.MappingNode):
        return
    fields = _mapping(node)
    for name in _TRIAL_FIELDS:
        yield from _texts(fields.get(name), f"trial {name}")
    contact = fields.get("contact")
    if isinstance(contact, yaml.MappingNode):
        for field in ("name", "address"):
            yield from _texts(_mapping(contact).get(field), f"trial contact {field}")
    yield from _items(fields.get("questions"), "question", _QUESTION_FIELDS, options=True)
    yield from _items(fields.get("criteria"), "criterion", _CRITERION_FIELDS, options=False)


def _items(
    node: Any, kind: str, names: tuple[str, ...], options: bool
) -> Iterator[tuple[int, str, str, list[str]]]:
    if not isinstance(node, yaml.SequenceNode):
        return
    for item in node.value:
        if not isinstance(item, yaml.MappingNode):
            continue
        fields = _mapping(item)
        ident = fields["id"].value if isinstance(fields.get("id"), yaml.ScalarNode) else "?"
        for name in names:
            where = f"{kind} {ident}" if name == "text" else f"{kind} {ident} {name}"
            yield from _texts(fields.get(name), where)
        if options and isinstance(fields.get("options"), yaml.SequenceNode):
            for option in fields["options"].value:
                if isinstance(option, yaml.MappingNode):
                    option_fields = _mapping(option)
                    value = getattr(option_fields.get("value"), "value", "?")
                    yield from _texts(option_fields.get("text"), f"{kind} {ident} option {value}")
                    yield from _texts(
                        option_fields.get("keywords"),
                        f"{kind} {ident} option {value} keywords: other ways to say it, separated by |",
                    )


def _texts(node: Any, where: str) -> Iterator[tuple[int, str, str, list[str]]]:
    if isinstance(node, yaml.ScalarNode) and node.value:
        yield node.start_mark.line + 1, "", node.value, [where]
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _texts(value, f"{where} ({key.value})")


def _mapping(node: yaml.MappingNode) -> dict[str, Any]:
    return {key.value: value for key, value in node.value}
