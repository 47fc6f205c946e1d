"""YAML read as data only, with bounds: PyYAML's safe loader, and before it one pass over
the parser's events that refuses what could exhaust memory or time or hide a mistake.

Refused: aliases (nested ones, "billion laughs", expand into gigabytes), nesting deeper
than any config needs (200 KB of `[` would overflow the stack), duplicate keys (the second
silently wins in PyYAML), merge keys (which let one key hide another), YAML 1.1's base-60
numbers (`1:30` is 90), and text over a size bound. Files must be regular files: a FIFO
or a device would hang a read or never end.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from dlcourse.errors import ConfigError, one_line
from dlcourse.safe_files import read_file


class SafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml's parser where PyYAML was built with it: the same YAML,
    several times faster), reading `1e-3` as the number YAML 1.2 and people mean: YAML 1.1
    wants `1.0e-3`, and the sections are strict, so it would be refused as a string."""


class SafeDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """PyYAML's safe dumper, quoting a string such as "1e-3" that SafeLoader reads as a
    number, so that what is written reads back the same (a config named 1e-3, say)."""


YAML12_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
for _side in (SafeLoader, SafeDumper):
    _side.add_implicit_resolver("tag:yaml.org,2002:float", YAML12_FLOAT, list("-+0123456789"))


def dump(data: Any, **options: Any) -> str:
    """YAML text of `data` that `parse` reads back as it is."""
    return yaml.dump(data, Dumper=SafeDumper, **options)

LARGEST_CONFIG_BYTES = 1_000_000
LARGEST_VALUE_BYTES = 100_000
DEEPEST_NESTING = 32


def read_yaml_file(path: Path) -> Any:
    """The YAML document in `path`; ConfigError naming the file for anything wrong with it."""
    text = read_text_file(path, LARGEST_CONFIG_BYTES, "config file")
    try:
        return parse(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(error, text)}") from None


def yaml_problem(error: Exception, text: str, *, position: bool = True) -> str:
    """PyYAML's reason with the line and column of the text it read, not of its
    "<unicode string>", where what it was reading began (an unclosed quote or bracket
    is only found at the end), and the tab a YAML beginner most often trips over named.
    Without `position` (a --set value, one line), the column alone."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or not problem:
        return one_line(error)
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    began = getattr(error, "context_mark", None)
    context = getattr(error, "context", None)
    if not position:
        where = f" at character {mark.column + 1}" if mark.line < len(lines) else ""
        while_ = f" ({context} begun at character {began.column + 1})" if context and began else ""
        tab = ": the value holds a tab, which YAML doesn't take there" if "\t" in text else ""
        return f"{problem}{where}{while_}{tab}."
    where = (f" at line {mark.line + 1}, column {mark.column + 1}" if mark.line < len(lines)
             else " at the end of the file")
    if context and began is not None and began.line != mark.line:
        where += f" ({context} that began at line {began.line + 1}, column {began.column + 1})"
    if "\t" in line[:len(line) - len(line.lstrip(" \t-"))] or "tab" in problem:
        return f"{problem}{where}: the line is indented with a tab, and YAML indents " \
               "with spaces only."
    return f"{problem}{where}."


def read_text_file(path: Path, largest: int, what: str) -> str:
    """A UTF-8 regular file of at most `largest` bytes."""
    data = read_file(path, largest, ConfigError, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a UTF-8 text file ({error.reason}).") from None


def parse_value(text: str, where: str) -> Any:
    """A `--set` value as YAML, with the same bounds as a file; empty means null."""
    if not text.strip():
        return None
    if len(text) > LARGEST_VALUE_BYTES:
        raise ConfigError(f"{where}: the value is longer than {LARGEST_VALUE_BYTES:,} characters.")
    try:
        return parse(text)
    except yaml.YAMLError as error:
        # `*.jsonl`, `&x`, `!x`, `%x`: YAML reads the first character as syntax. The quoted
        # form is YAML's own (a ' inside doubled), on one line.
        quoted = dump(text, width=10**9).splitlines()[0]
        quote = (f" Text starting so is quoted in YAML: {quoted}."
                 if text.lstrip()[:1] in ("*", "&", "!", "%", "@", "`") else "")
        reason = yaml_problem(error, text, position=False).rstrip(".")
        raise ConfigError(f"{where}: the value is not valid YAML: {reason}.{quote}") from None


def parse(text: str) -> Any:
    check_events(text)
    try:
        return yaml.load(text, Loader=SafeLoader)
    except ValueError as error:  # a number Python won't read (past 4,300 digits)
        raise yaml.YAMLError(f"a value that can't be read: {error}") from None


def check_events(text: str) -> None:
    """Refuse aliases, deep nesting and duplicate keys, from the parser's events alone
    (the parser is iterative; composing the tree is where recursion and expansion happen)."""
    # One entry per open collection: for a mapping, the keys seen and whether the next
    # node is a key; for a sequence, None.
    open_collections: list[dict[str, Any] | None] = []
    for event in yaml.parse(text, Loader=SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise yaml.YAMLError(
                f"YAML aliases (*{event.anchor}) are not allowed in configs; "
                "write the value out instead"
            )
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            _node_seen(open_collections, None, event)
            if len(open_collections) >= DEEPEST_NESTING:
                raise yaml.YAMLError(
                    f"nested more than {DEEPEST_NESTING} levels deep (line "
                    f"{event.start_mark.line + 1}); no config needs that"
                )
            mapping = isinstance(event, yaml.MappingStartEvent)
            open_collections.append({"keys": set(), "expect_key": True} if mapping else None)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            open_collections.pop()
        elif isinstance(event, yaml.ScalarEvent):
            _node_seen(open_collections, event.value, event)
            tagged = event.tag in (_INT_TAG, _FLOAT_TAG)  # !!int '999...', quoted
            if (not event.style or tagged) and _LONG_NUMBER.match(event.value):
                # Python reads no integer past 4,300 digits: a ValueError's traceback.
                raise yaml.YAMLError(
                    f"a number of {len(event.value):,} characters (line "
                    f"{event.start_mark.line + 1}); no config needs that")


# A plain scalar YAML would read as a number of thousands of digits, in base 10, 16, 8
# or 2 (Python's 4,300-digit limit spares the others, but printing one in a message hits it).
_LONG_NUMBER = re.compile(r"^[-+]?(?:[0-9_]{1000,}(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
                          r"|0x[0-9a-fA-F_]{1000,}|0o?[0-7_]{1000,}|0b[01_]{1000,})$")
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
# YAML 1.1's base 60, as PyYAML resolves it (its int and float patterns): `epochs: 1:30`
# is 90, while `08:15` stays text.
_SEXAGESIMAL = re.compile(r"^(?:[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"
                          r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*)$")


def _node_seen(open_collections: list, scalar: str | None, event) -> None:
    plain = scalar is not None and not event.style  # libyaml says "", PyYAML None
    if plain and _SEXAGESIMAL.match(scalar):
        raise yaml.YAMLError(
            f"{scalar} (line {event.start_mark.line + 1}) reads as a base-60 number in YAML "
            "1.1 (1:30 is 90); write the number, or quote it if it is text"
        )
    if not open_collections or open_collections[-1] is None:
        return
    mapping = open_collections[-1]
    if mapping["expect_key"] and scalar is not None:
        if plain and scalar == "<<":
            raise yaml.YAMLError(
                f"a merge key (<<, line {event.start_mark.line + 1}) would let one key hide "
                "another unseen; write the keys out instead"
            )
        if scalar in mapping["keys"]:
            raise yaml.YAMLError(
                f"the key {scalar!r} appears twice in one mapping (line "
                f"{event.start_mark.line + 1}); the second would silently replace the first"
            )
        mapping["keys"].add(scalar)
    mapping["expect_key"] = not mapping["expect_key"]
