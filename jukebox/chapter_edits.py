"""The workshop's edits, made the way its instructions word them: paste, comment out, add a line.

The instructions (the workshop's pages, and the kit's guides, which show the same blocks) ask for
four kinds of edit, and each is one function here:

- paste a block under a marker (``### 🍇 Fetches data from DVC``): ``paste_under``;
- comment out a line, or every line of a block: ``comment_out``, ``comment_out_block``;
- change a line into the line they show (``# "loudness", # 👈 change this to a comment``):
  ``comment_out`` with that line;
- add the lines a shown file marks ``# 👈 add this``: ``add_marked_lines``.

A participant finds a marker by its emoji or its words, whatever their spelling
(``Fetches data from DVC`` / ``Fetch Data from DVC``; a mis-encoded copy of a page garbles the
emoji), and pastes at the marker's indentation; these functions do the same. ``guide_block``
reads a block from a guide, so that the course (``make workshop``) and the tests make exactly
the edits the guides show.
"""

import re
import textwrap
from pathlib import Path

# The instructions' pointer at the line to change, e.g. ``# 👈 add this``: a last comment after the
# code that starts with a pointing emoji (any, since a mis-encoded page garbles it), then what to do.
HINT = re.compile(r"(?<=\S)\s+#\s*[^\x00-\x7f][^#]*$")
_GUIDE_BLOCK = re.compile(r"<!-- workshop-edit: ([\w-]+) -->\s*\n\s*```[\w]*\n(.*?)\n\s*```", re.S)


class EditError(ValueError):
    """An edit the instructions describe does not fit the file: one sentence saying why."""


def _marker_key(line: str) -> tuple[str, str] | None:
    """A ``### <emoji> … <source>`` marker's emoji and last word (lower case), or None for other lines."""
    words = line.strip().split()
    if len(words) < 3 or words[0] != "###":
        return None
    return words[1], words[-1].lower()


def same_marker(line: str, marker: str) -> bool:
    """Whether ``line`` is the marker ``marker``: the same emoji, or the same source word."""
    key, wanted = _marker_key(line), _marker_key(marker)
    return bool(key and wanted) and (key[0] == wanted[0] or key[1] == wanted[1])


def find_marker(lines: list[str], marker: str) -> int:
    """The index of the line that is ``marker`` (see ``same_marker``)."""
    found = [index for index, line in enumerate(lines) if same_marker(line, marker)]
    if not found:
        raise EditError(f"There is no line {marker.strip()!r} to paste under.")
    return found[0]


def _code_of(line: str) -> tuple[str, str]:
    """An instruction's line → (its code without a leading ``# ``, the ``# 👈 …`` hint or "")."""
    pointer = HINT.search(line)
    code = (line[: pointer.start()] if pointer else line).strip()
    if code.startswith("#"):
        code = code[1:].strip()
    return code, pointer.group(0).strip() if pointer else ""


def paste_under(source: str, block: str, marker: str | None = None) -> str:
    """Paste ``block`` on the lines right under ``marker``, at the marker's indentation.

    The instructions often show the marker as the block's first line: then ``marker`` may be left
    out, and the marker is not pasted twice.
    """
    lines = source.splitlines()
    pasted = textwrap.dedent(block).strip("\n").splitlines()
    marker = marker or (pasted[0] if pasted else "")
    at = find_marker(lines, marker)
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    if pasted and same_marker(pasted[0], lines[at]):
        pasted = pasted[1:]
    pasted = [f"{indent}{line}".rstrip() for line in pasted]
    return "\n".join([*lines[: at + 1], *pasted, *lines[at + 1 :]]) + "\n"


def _comment_out_at(lines: list[str], line: str, at: int) -> None:
    code, hint = _code_of(line)
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    done = line.strip().startswith("#")  # the instructions show the line as it reads afterwards
    lines[at] = f"{indent}# {code}" + (f" {hint}" if done and hint else "")


def comment_out(source: str, line: str) -> str:
    """Comment out the one active line whose code is ``line``'s; keep a ``# 👈`` hint it shows as done.

    ``line`` is as the instructions show it: the line to comment out (``fetch_task = fetch_data()``,
    maybe with a hint after it), or the line as it should read after (``# "loudness", # 👈 …``).
    """
    code = _code_of(line)[0]
    lines = source.splitlines()
    found = [index for index, known in enumerate(lines) if known.strip() == code]
    if len(found) != 1:
        raise EditError(f"There is {'no line' if not found else 'more than one line'} {code!r} to comment out.")
    _comment_out_at(lines, line, found[0])
    return "\n".join(lines) + "\n"


def comment_out_block(source: str, marker: str, block: str) -> str:
    """Comment out, in order from ``marker`` on, each line of ``block`` (shown before or after the edit).

    As an editor's "toggle comment" does on a selection, ``# `` goes at the block's indentation (the
    marker's), so a block shown after the edit is reproduced as shown.
    """
    lines = source.splitlines()
    cursor = find_marker(lines, marker) + 1
    indent = lines[cursor - 1][: len(lines[cursor - 1]) - len(lines[cursor - 1].lstrip())]
    for line in textwrap.dedent(block).splitlines():
        code = _code_of(line)[0]
        if not code or _marker_key(line) is not None:
            continue  # blank lines stay as they are; the marker is not part of the block
        at = next((index for index in range(cursor, len(lines)) if lines[index].strip() == code), None)
        if at is None:
            raise EditError(f"Under {marker.strip()!r} there is no line {code!r} to comment out.")
        relative = line.rstrip() if line.lstrip().startswith("#") else f"# {line.rstrip()}"
        lines[at], cursor = f"{indent}{relative}", at + 1
    return "\n".join(lines) + "\n"


def add_marked_lines(current: str, shown: str) -> str:
    """Add to ``current`` each line ``shown`` marks ``# 👈 add this``, after the line it follows there.

    A line already in ``current`` (the same code) is not added again.
    """
    lines = current.splitlines()
    previous = None
    for line in shown.splitlines():
        code, hint = _code_of(line)
        if hint and "add" in hint and not any(_code_of(known)[0] == code for known in lines):
            after = [index for index, known in enumerate(lines) if _code_of(known)[0] == previous]
            if not after:
                raise EditError(f"There is no line {previous!r} to add {code!r} after.")
            lines.insert(after[-1] + 1, line.rstrip())
        if line.strip():
            previous = code
    return "\n".join(lines) + "\n"


def marked_lines(shown: str) -> list[str]:
    """The lines of a shown file that carry the instructions' ``# 👈`` pointer."""
    return [line for line in shown.splitlines() if HINT.search(line)]


def fill_in(text: str, values: dict[str, str]) -> str:
    """The guide's placeholders (``<USER_NAME>``, ``<GIT_SERVER>``…) replaced by the participant's values."""
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    return text


def commit_message(commands: str) -> str:
    """The message of the ``git commit -m "…"`` in a block of commands."""
    found = re.search(r'git commit\b[^"\n]*-m\s+"([^"]+)"', commands)
    if not found:
        raise EditError('The commands have no git commit -m "…".')
    return found.group(1)


def guide_blocks(text: str) -> dict[str, str]:
    """The code blocks of a guide's text tagged ``<!-- workshop-edit: NAME -->``: NAME → the block."""
    return {tag: textwrap.dedent(code) for tag, code in _GUIDE_BLOCK.findall(text)}


def guide_block(guide: Path, name: str) -> str:
    """The code block of ``guide`` tagged ``<!-- workshop-edit: name -->``, as a participant copies it."""
    blocks = guide_blocks(guide.read_text())
    if name not in blocks:
        raise EditError(f"{guide.name} has no block tagged workshop-edit: {name}.")
    return blocks[name]


# What the pipeline's active source is, and whether a feature is left out: read by the course's checks.
SOURCE_STEPS = {"fetch_data(": "urls", "fetch_data_from_dvc(": "dvc", "fetch_data_from_feast(": "feast"}


def active_source(source: str) -> str | None:
    """The source of the pipeline's last active ``fetch_task = …`` line (the one it trains on)."""
    active = None
    for line in source.splitlines():
        code = line.strip()
        if code.startswith("fetch_task = "):
            call = code.removeprefix("fetch_task = ")
            active = next((name for prefix, name in SOURCE_STEPS.items() if call.startswith(prefix)), active)
    return active


def feature_left_out(service_source: str, feature: str) -> bool:
    """Whether ``feature``'s line of feature_service.py is commented out."""
    lines = service_source.splitlines()
    return any(line.strip().startswith("#") and _code_of(line)[0] == f'"{feature}",' for line in lines)
