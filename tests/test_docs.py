"""The README and docs/: every page linked, every link resolving, every `$ timetrack ...` example
a command and options the command line still has, every command documented."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from timetrack.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]

# A markdown link or image: [text](target) or [text](target "title").
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# An example line of the command line, `.venv/bin/timetrack` included.
EXAMPLE = re.compile(r"^\$ (?:\S*/)?timetrack(?:\s|$)")


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _prose(page: Path) -> str:
    """The page without its fenced code blocks, where `](` is code, not a link."""
    return re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)


def _links(page: Path) -> list[str]:
    return LINK.findall(_prose(page))


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation but `-` and `_` dropped,
    spaces as `-`."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", _prose(page), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_docs_page_is_linked_from_the_readme() -> None:
    assert DOCS, "docs/ holds no page"
    linked = {(ROOT / link.split("#")[0]).resolve() for link in _links(README)}
    unlinked = [_name(page) for page in DOCS if page.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # https:, mailto: ...: not ours to check
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.is_file():
            broken.append(f"{link}: no file {target.relative_to(ROOT)}")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{link}: no heading #{anchor} in {_name(target)}")
    assert not broken, f"{_name(page)}: " + "; ".join(broken)


def _examples() -> list[tuple[str, list[str]]]:
    """Every `$ timetrack ...` line of the README and docs, continuation lines joined, as its
    place and its arguments after `timetrack` (comments and a trailing `&` left out)."""
    found = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if not EXAMPLE.match(line):
                continue
            text, following = line, number
            while text.rstrip().endswith("\\"):
                text = text.rstrip()[:-1] + " " + lines[following]
                following += 1
            words = shlex.split(text, comments=True)[2:]
            found.append((f"{_name(page)}:{number}", [w for w in words if w != "&"]))
    return found


EXAMPLES = _examples()


def test_the_docs_show_the_command_line() -> None:
    shown = {words[0] for _, words in EXAMPLES if words}
    assert {"run", "check", "emulator", "report", "listen", "webhooks"} <= shown, shown


def _help_of(words: list[str]) -> tuple[list[str], list[str], str]:
    """The command path the words name (`webhooks setup`), the rest of the words, and the
    command's help text."""
    command: click.Command = cli
    path: list[str] = []
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"no command `timetrack {' '.join([*path, rest[0]])}`"
        command = sub
        path.append(rest.pop(0))
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return path, rest, result.output


@pytest.mark.parametrize(("where", "words"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_every_example_names_a_command_and_options_it_has(where: str, words: list[str]) -> None:
    path, rest, help_text = _help_of(words)
    options = [word.split("=", 1)[0] for word in rest if word.startswith("-")]
    missing = [
        option
        for option in options
        if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text)
    ]
    assert not missing, f"{where}: `timetrack {' '.join(path)} --help` lacks {missing}"
    # And the command line itself takes the whole example (its values are not checked: help
    # answers first).
    result = CliRunner().invoke(cli, [*path, *rest, "--help"])
    assert result.exit_code == 0, f"{where}: {result.output}"


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


@pytest.mark.parametrize("path", _commands(cli), ids=" ".join)
def test_every_command_has_help_and_is_in_the_docs(path: tuple[str, ...]) -> None:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert command.help and command.help.strip(), f"timetrack {' '.join(path)} has no help text"
    text = "\n".join(page.read_text() for page in PAGES)
    assert f"timetrack {' '.join(path)}" in text, f"timetrack {' '.join(path)} is in no page"
