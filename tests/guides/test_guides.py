"""The chapter guides say only what is true of the kit, in English and in Korean.

A guide is a chapter folder's ``README.md`` (English) and ``README.ko.md`` (Korean, the same guide
translated). The conventions a guide follows, and that this module checks, without a lab:

1. Code is written as code: inline spans (`` `…` ``) or fenced blocks (```` ```bash ````, ``python``,
   ``yaml``, ``text``, …). The checks read the code, and in the prose only lab URLs and links.
2. **Files.** A word of code that names a file or folder (it ends with ``/`` or with an extension of
   ``EXTENSIONS``, or it starts with a folder that exists) must exist relative to the guide's folder,
   the kit's root, ``99-data_prep/`` (a bare data file name: the lab serves that folder) or, for the
   ``mlops-gitops`` repo, ``jukebox/lab/gitops_template/``. A file the kit writes need not exist:
   one that the kit's ``.gitignore`` matches (compiled YAML, ``.lab/``, ``.venv/``), or one of
   ``WRITTEN_LATER``. Not file names: URLs (``http://…``, ``s3://…``), absolute paths, words with
   ``$``, ``~``, ``=``, ``:``, ``*`` or ``…`` (an elided part), options (``--…``).
3. **Placeholders** are written ``<name>``; only those of ``PLACEHOLDERS`` may appear in code, and a
   path with one is not looked up.
4. **Lab commands.** Every ``python -m jukebox.lab …`` (with any python: ``python``,
   ``.venv/bin/python``) must be accepted by the lab CLI's own argument parser
   (``jukebox.lab.cli.parser()``), and the run or schedule it names (``runs start NAME``,
   ``schedules create NAME``) must be a name of the kit (rule 6). An optional part in square
   brackets (``[--user U]``) and a lone ``…`` are left out; ``"$(…)"`` stands for one value.
5. **make.** Every ``make TARGET`` in code is a target of the kit's ``Makefile``.
6. **Names.** An inline span that is one kebab-case or snake_case name (``data-pipeline-with-dvc``,
   ``data-pipeline-with-dvc-daily``, ``serving_fs``, ``dataset_url``, ``fetch-data-from-dvc``) must
   occur in the kit's sources: every file of the kit but Markdown (code, notebooks, YAML, tests —
   this module excepted), so that a pipeline, run, schedule, step, parameter, secret or feature
   service a guide names is one the kit really has.
7. **Markers and code.** An inline span starting with ``### `` is a marker participants look for: it
   must be a line of a ``.py`` file of the kit. Each line of a ``python`` block must be a line of a
   ``.py`` file of the kit, commented or not (a block shows the code as it reads after an edit),
   except in the workshop's own blocks (tagged ``<!-- workshop-edit: NAME -->``), which participants
   paste: ``test_workshop_words.py`` makes those edits and compiles the result.
8. **Lab URLs** (``http://127.0.0.1:PORT``, ``localhost:PORT``) use a port of the lab at its default
   base (``jukebox/lab/settings.py``); a repo (``….git``) or raw-data (``/raw/…``) URL uses git's
   port, and a URL right after the name of a service (MLflow, JupyterLab, Feast UI, Jukebox page)
   that service's port.
9. **Links** to files of the kit point to files that exist.
10. **Translation.** ``README.ko.md`` has exactly the same set of inline code spans as its
    ``README.md`` and the same fenced blocks in the same order (shell comments left out: they are
    translated), so that the two guides cannot drift apart.
"""

import argparse
import contextlib
import io
import os
import re
import shlex
import subprocess
import textwrap
from functools import cache
from pathlib import Path

import pytest
from kittools import kit_files

from jukebox.chapter_edits import guide_blocks
from jukebox.lab import cli
from jukebox.lab.settings import DEFAULT_PORT_BASE, default_ports
from jukebox.paths import DATA_PREP, REPO_ROOT

GITOPS_REPO = REPO_ROOT / "jukebox" / "lab" / "gitops_template"
EXTENSIONS = {
    ".py", ".ipynb", ".md", ".yaml", ".yml", ".json", ".txt", ".toml", ".parquet", ".dvc", ".pkl", ".onnx", ".log",
}  # fmt: skip
# What each placeholder stands for (a guide says it too, where it first uses one).
PLACEHOLDERS = {
    "user": "a participant's user name (user1 in the lab)",
    "username": "the same, as the variable `username` holds it",
    "cluster_domain": "the cluster's apps domain, e.g. apps.cluster.example.com",
    "namespace": "the participant's namespace (data science project) on the cluster",
    "sha": "a commit's short SHA",
    "run-id": "the id of a pipeline run",
    "version": "a model version",
    "image": "a container image",
    "registry": "a container registry and its namespace, where an image is pushed",
    # the workshop's own spelling, in the files it shows (its mlops-gitops configurations)
    "USER_NAME": "the participant's user name, as the workshop's pages write it",
    "CLUSTER_DOMAIN": "the cluster's apps domain, as the workshop's pages write it",
    "GIT_SERVER": "the git server's host name, as the workshop's pages write it",
}
# Files that appear only after a participant's step, each with the source that writes it.
WRITTEN_LATER = {
    "song_properties.parquet.dvc": "jukebox/components/dvc_versioning.py",
    ".dvc/config": "jukebox/components/dvc_versioning.py",
    ".dvc/": "jukebox/components/dvc_versioning.py",
    "toolings/feast-database/config.yaml": "jukebox/lab/feast_database.py",  # the participant writes, the lab reads
}
LAB_PORTS = default_ports(DEFAULT_PORT_BASE)
SERVICE_WORDS = {"MLflow": "mlflow", "JupyterLab": "jupyter", "Feast UI": "feast-ui", "Jukebox page": "jukebox-ui"}
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}


def chapter_guides() -> list[Path]:
    guides = [*REPO_ROOT.glob("*/README.md"), *REPO_ROOT.glob("*/README.ko.md")]
    return sorted(guide for guide in guides if not guide.parent.name.startswith("."))


# ---- reading a guide ------------------------------------------------------------------------------

FENCE = re.compile(
    r"^(?P<fence>```+|~~~+)[ \t]*(?P<language>[\w-]*)[^\n]*\n(?P<code>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)
INLINE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, code)`` of each fenced block, in order."""
    return [(match["language"].lower(), match["code"]) for match in FENCE.finditer(text)]


def prose(text: str) -> str:
    """The text without its fenced blocks."""
    return FENCE.sub("", text)


def inline_spans(text: str) -> list[str]:
    """The inline code spans (outside fenced blocks), whitespace normalized as Markdown does."""
    return [" ".join(match[2].split()) for match in INLINE.finditer(prose(text)) if "\n\n" not in match[2]]


def without_comment(line: str) -> str:
    """A shell line without its ``# comment`` (a ``#`` at the start or after a blank)."""
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0].rstrip()


def code_lines(text: str) -> list[str]:
    """Every piece of code: each inline span, and each line of each fenced block (shell comments left out)."""
    lines = list(inline_spans(text))
    for language, code in fenced_blocks(text):
        for line in code.splitlines():
            lines.append(without_comment(line) if language in SHELL_LANGUAGES else line)
    return [line for line in lines if line.strip()]


def shell_code(text: str) -> list[str]:
    """The code that may hold commands: inline spans and the lines of shell blocks."""
    lines = list(inline_spans(text))
    for language, code in fenced_blocks(text):
        if language in SHELL_LANGUAGES:
            lines += [without_comment(line) for line in code.splitlines()]
    return lines


# ---- what the kit has ----------------------------------------------------------------------------


@cache
def kit_sources() -> str:
    """Where a guide's names must occur: every file of the kit but Markdown and this module, and the data's columns."""
    import pyarrow.parquet

    texts = []
    for path in kit_files():
        if path.name == "Makefile" or path.suffix in {".py", ".ipynb", ".yaml", ".yml", ".json", ".toml", ".txt"}:
            if path != Path(__file__).resolve():
                texts.append(path.read_text(errors="replace"))
        elif path.suffix == ".parquet":
            texts.append(" ".join(pyarrow.parquet.read_schema(path).names))
    return "\n".join(texts)


def in_kit_sources(name: str) -> bool:
    """Whether ``name`` occurs as a word of the kit's sources; a step (``fetch-data-from-dvc``) also by its function."""
    spellings = {name, name.replace("-", "_")}  # KFP names a step after its function, with dashes
    return any(re.search(rf"(?<![\w-]){re.escape(spelling)}(?![\w-])", kit_sources()) for spelling in spellings)


@cache
def python_lines() -> frozenset[str]:
    """Every line of the kit's ``.py`` files, stripped and uncommented."""
    lines = set()
    for path in kit_files():
        if path.suffix == ".py":
            lines |= {uncommented(line) for line in path.read_text(errors="replace").splitlines()}
    return frozenset(lines)


def uncommented(line: str) -> str:
    line = line.strip()
    return line[2:].strip() if line.startswith("# ") else line


@cache
def make_targets() -> frozenset[str]:
    return frozenset(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", (REPO_ROOT / "Makefile").read_text(), re.M))


def ignored_by_the_kit(paths: list[str]) -> set[str]:
    """Those of ``paths`` (relative to the kit's root) that the kit's ``.gitignore`` matches."""
    if not paths:
        return set()
    answer = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "check-ignore", "--no-index", "--stdin"],
        input="\n".join(paths) + "\n",
        capture_output=True,
        text=True,
    )
    if answer.returncode not in (0, 1):
        raise RuntimeError(f"git check-ignore failed: {answer.stderr.strip()}")
    return set(answer.stdout.splitlines())


# ---- the checks ----------------------------------------------------------------------------------

NOT_A_PATH = re.compile(r"://|[$~=:*…`{}@]|^[-/#]")


def path_words(line: str) -> list[str]:
    words = re.split(r"[\s\"'()\[\],;|&]+", line)
    return [word.rstrip(".:") for word in words if word and not NOT_A_PATH.search(word.rstrip(".:"))]


def looks_like_a_path(word: str, folder: Path) -> bool:
    if word in (".", "..") or not re.search(r"[\w/]", word):
        return False
    if word.endswith("/") or Path(word).suffix in EXTENSIONS:
        return True
    first = word.split("/")[0]
    return "/" in word and first not in (".", "..") and ((folder / first).exists() or (REPO_ROOT / first).exists())


def file_problems(text: str, folder: Path) -> list[str]:
    missing = {}
    for line in code_lines(text):
        for word in path_words(line):
            if "<" in word or ">" in word or not looks_like_a_path(word, folder):
                continue
            roots = (folder, REPO_ROOT, DATA_PREP, GITOPS_REPO)
            if word in WRITTEN_LATER or any((root / word).exists() for root in roots):
                continue
            inside = [os.path.normpath(base / word) for base in (folder, REPO_ROOT)]
            inside = [os.path.relpath(path, REPO_ROOT) for path in inside if path.startswith(f"{REPO_ROOT}/")]
            slash = "/" if word.endswith("/") else ""  # a folder: `.venv/` matches the pattern `.venv/`
            missing[word] = [path + slash for path in inside]
    ignored = ignored_by_the_kit(sorted({path for paths in missing.values() for path in paths}))
    return [
        f"`{word}` names a file that is not in the kit (looked in {folder.name}/, the kit's root, 99-data_prep/ "
        "and the mlops-gitops template), and the kit does not write it."
        for word, paths in missing.items()
        if not ignored & set(paths)
    ]


def placeholder_problems(text: str) -> list[str]:
    used = {name for line in code_lines(text) for name in re.findall(r"<([A-Za-z][\w-]*)>", line)}
    return [
        f"Placeholder <{name}> is not one of the documented placeholders ({', '.join(sorted(PLACEHOLDERS))})."
        for name in sorted(used - set(PLACEHOLDERS))
    ]


LAB_COMMAND = re.compile(r"python3?\s+-m\s+jukebox\.lab\b([^\n]*)")


def lab_commands(text: str) -> list[tuple[str, list[str] | None]]:
    """Each ``python -m jukebox.lab …`` in the code: its text, and its arguments (None if unreadable)."""
    found = []
    for line in shell_code(text):
        for match in LAB_COMMAND.finditer(line):
            rest = re.sub(r"\$\([^()]*\)", "VALUE", match[1])  # "$(git rev-parse HEAD)" is one value
            rest = re.split(r"\)|\s#|&&|\|\||;|\|", rest, maxsplit=1)[0]
            rest = re.sub(r"\[[^\[\]]*\]", " ", rest)  # [--user U]: optional
            shown = f"python -m jukebox.lab{rest.rstrip()}"
            try:
                arguments = [word for word in shlex.split(rest) if word not in ("…", "...")]
            except ValueError:
                arguments = None
            found.append((shown, arguments))
    return found


def parse_lab_command(arguments: list[str]) -> tuple[argparse.Namespace | None, str | None]:
    """The lab CLI's own parser on ``arguments``: what it makes of them, or what it says against them."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
            return cli.parser().parse_args(arguments), None
    except SystemExit as exit:
        lines = said.getvalue().strip().splitlines()
        return None, (lines[-1] if lines else f"exit status {exit.code}")


def named_run_or_schedule(options: argparse.Namespace) -> str | None:
    """The run (``runs start NAME``) or schedule (``schedules create|delete NAME``) a lab command names."""
    if options.command == "runs" and options.action == "start":
        return options.target
    if options.command == "schedules" and options.action in ("create", "delete"):
        return options.name
    return None


def command_problems(text: str) -> list[str]:
    problems = []
    for shown, arguments in lab_commands(text):
        if arguments is None:
            problems.append(f"`{shown}` cannot be read as a command (unbalanced quotes).")
            continue
        options, refusal = parse_lab_command(arguments)
        if refusal:
            problems.append(f"`{shown}` is not a command of the lab: its CLI says {refusal!r}.")
        elif (name := named_run_or_schedule(options)) and NAME.fullmatch(name) and not in_kit_sources(name):
            problems.append(f"`{shown}` names {name}, which occurs nowhere in the kit's sources.")
    for line in shell_code(text):
        for target in re.findall(r"(?:^|[\s;&|(])make\s+([A-Za-z][\w.-]*)", line):
            if target not in make_targets():
                targets = ", ".join(sorted(make_targets()))
                problems.append(f"`make {target}` is not a target of the Makefile ({targets}).")
    return problems


NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)+")


def name_problems(text: str) -> list[str]:
    problems = []
    for span in sorted(set(inline_spans(text))):
        if NAME.fullmatch(span) and not in_kit_sources(span):
            problems.append(f"`{span}` is a name that occurs nowhere in the kit's sources.")
        if span.startswith("### ") and span not in python_lines():
            problems.append(f"`{span}` is a marker that no .py file of the kit has.")
    pasted = {code.strip() for code in guide_blocks(text).values()}
    for language, code in fenced_blocks(text):
        if language == "python" and textwrap.dedent(code).strip() not in pasted:
            for line in code.splitlines():
                if line.strip() and uncommented(line) not in python_lines():
                    problems.append(f"The python block's line {line.strip()!r} is not a line of the kit's code.")
    return problems


LAB_URL = re.compile(r"(?:https?://)?(?:127\.0\.0\.1|localhost):(\d+)([^\s)`'\",|]*)")


def url_problems(text: str) -> list[str]:
    problems = []
    for line in text.splitlines():
        for match in LAB_URL.finditer(line):
            port, rest, url = int(match[1]), match[2], match[0]
            services = [name for name, number in LAB_PORTS.items() if number == port]
            if not services:
                problems.append(f"{url} uses port {port}, which is not a port of the lab ({settings_note()}).")
                continue
            before = line[max(0, match.start() - 40) : match.start()]
            named = [service for word, service in SERVICE_WORDS.items() if word in before]
            wanted = "git" if (".git" in rest or rest.startswith("/raw/")) else (named[-1] if len(named) == 1 else None)
            if wanted and wanted not in services:
                problems.append(f"{url} should use the port of the lab's {wanted}, {LAB_PORTS[wanted]}, not {port}.")
    return problems


def settings_note() -> str:
    return f"jukebox/lab/settings.py: {', '.join(f'{name} {port}' for name, port in list(LAB_PORTS.items())[:8])}, …"


def link_problems(text: str, folder: Path) -> list[str]:
    problems = []
    for target in LINK.findall(prose(text)):
        if re.match(r"[a-z]+:|#", target):
            continue
        if not (folder / target.split("#")[0]).exists():
            problems.append(f"The link to {target} points to no file.")
    return problems


def guide_problems(text: str, folder: Path) -> list[str]:
    """Every way ``text``, a guide in ``folder``, breaks the conventions above: one sentence each."""
    return [
        *file_problems(text, folder),
        *placeholder_problems(text),
        *command_problems(text),
        *name_problems(text),
        *url_problems(text),
        *link_problems(text, folder),
    ]


def fenced_commands(text: str) -> list[list[str]]:
    """Each fenced block's lines, shell comments left out: what a translation must keep as it is."""
    blocks = []
    for language, code in fenced_blocks(text):
        lines = [without_comment(line) if language in SHELL_LANGUAGES else line.rstrip() for line in code.splitlines()]
        blocks.append([line for line in lines if line.strip()])
    return blocks


def translation_problems(english: str, korean: str) -> list[str]:
    """How the Korean guide's code differs from the English guide's."""
    spans_en, spans_ko = set(inline_spans(english)), set(inline_spans(korean))
    problems = [f"README.ko.md lacks `{span}`, which README.md has." for span in sorted(spans_en - spans_ko)]
    problems += [f"README.ko.md has `{span}`, which README.md lacks." for span in sorted(spans_ko - spans_en)]
    blocks_en, blocks_ko = fenced_commands(english), fenced_commands(korean)
    if len(blocks_en) != len(blocks_ko):
        problems.append(f"README.ko.md has {len(blocks_ko)} code blocks, README.md {len(blocks_en)}.")
    for number, (block_en, block_ko) in enumerate(zip(blocks_en, blocks_ko, strict=False), start=1):
        if block_en != block_ko:
            differ = next(pair for pair in zip(block_en + [""], block_ko + [""], strict=False) if pair[0] != pair[1])
            problems.append(f"Code block {number} differs: README.md has {differ[0]!r}, README.ko.md {differ[1]!r}.")
    return problems


# ---- the tests -----------------------------------------------------------------------------------


def guide_id(guide: Path) -> str:
    return str(guide.relative_to(REPO_ROOT))


@pytest.mark.parametrize("guide", chapter_guides(), ids=guide_id)
def test_guide_says_only_what_the_kit_has(guide):
    problems = guide_problems(guide.read_text(), guide.parent)
    assert not problems, f"{guide_id(guide)}:\n" + "\n".join(f"- {problem}" for problem in problems)


KOREAN_GUIDES = [guide for guide in chapter_guides() if guide.name == "README.ko.md"]


@pytest.mark.parametrize("korean", KOREAN_GUIDES, ids=guide_id)
def test_korean_guide_has_the_same_code_as_the_english_one(korean):
    english = korean.with_name("README.md")
    assert english.exists(), f"{guide_id(korean)} translates {guide_id(english)}, which is missing."
    problems = translation_problems(english.read_text(), korean.read_text())
    assert not problems, f"{guide_id(korean)}:\n" + "\n".join(f"- {problem}" for problem in problems)


def test_top_readme_links_every_guide_in_both_languages():
    readme = (REPO_ROOT / "README.md").read_text()
    linked = {target.split("#")[0] for target in LINK.findall(prose(readme))}
    chapters = [guide for guide in chapter_guides() if re.match(r"\d+-", guide.parent.name)]
    unlinked = [guide_id(guide) for guide in chapters if guide_id(guide) not in linked]
    assert chapters and not unlinked, f"README.md links no guide {', '.join(unlinked)}."
    assert not link_problems(readme, REPO_ROOT), link_problems(readme, REPO_ROOT)


def test_files_written_later_are_written_by_the_source_named():
    for name, source in WRITTEN_LATER.items():
        assert name in (REPO_ROOT / source).read_text(), f"{source} does not write {name}."


# ---- the checks can fail -------------------------------------------------------------------------

CHAPTER_3 = REPO_ROOT / "3-prod_datascience"


@pytest.mark.parametrize(
    ("guide", "expected"),
    [
        ("Open `prod_train_save_pipelin.py`.", "`prod_train_save_pipelin.py` names a file that is not in the kit"),
        ("```bash\ncd 5-data-versioning/nothing-here/\n```", "`5-data-versioning/nothing-here/` names a file"),
        ("Type `python -m jukebox.lab runs strat data-pipeline-with-dvc-adhoc-run`.", "invalid choice: 'strat'"),
        ("```bash\npython -m jukebox.lab up --colour blue  # a comment\n```", "unrecognized arguments: --colour blue"),
        ("```bash\npython -m jukebox.lab schedule list\n```", "`python -m jukebox.lab schedule list` is not a command"),
        ("Then `make deploy`.", "`make deploy` is not a target of the Makefile"),
        (
            "```bash\npython -m jukebox.lab runs start data-pipeline-with-dvc-adhok-run --script fetch_data.py\n```",
            "names data-pipeline-with-dvc-adhok-run, which occurs nowhere in the kit's sources",
        ),
        ("Import it as `data-pipeline-with-dvd`.", "`data-pipeline-with-dvd` is a name that occurs nowhere"),
        ("Uncomment `### 🍒 Fetch Data from Cherries`.", "is a marker that no .py file of the kit has"),
        ("```python\nfetch_task = fetch_data_from_nowhere()\n```", "is not a line of the kit's code"),
        ("MLflow: http://127.0.0.1:47103", "should use the port of the lab's mlflow, 47102, not 47103"),
        ("Open http://127.0.0.1:8080.", "port 8080, which is not a port of the lab"),
        ("Clone `https://gitea-gitea.<domain>/<user>/jukebox.git`.", "Placeholder <domain> is not one of"),
        ("See [the guide](../5-data-versioning/GUIDE.md).", "The link to ../5-data-versioning/GUIDE.md points to no"),
    ],
)
def test_a_wrong_guide_is_reported_clearly(guide, expected):
    problems = guide_problems(guide, CHAPTER_3)
    assert any(expected in problem for problem in problems), problems


def test_a_right_guide_has_no_problem():
    guide = (
        "Press play on `prod_train_save_pipeline.py` (`../5-data-versioning/README.md` is next), then:\n\n"
        '```bash\nmake setup\npython -m jukebox.lab runs wait "$(git rev-parse HEAD)"  # wait\n'
        "python -m jukebox.lab serve [--user U]\n"
        "python -m jukebox.lab runs start data-pipeline-with-dvc-adhoc-run --script "
        "../5-data-versioning/4-data_pipeline_with_dvc_versioning.py … --wait\n```\n\n"
        "It writes `training-pipeline.yaml`; MLflow (http://127.0.0.1:47102) shows `serving_fs` of `<user>`.\n"
    )
    assert guide_problems(guide, CHAPTER_3) == []


def test_a_translation_that_drifts_is_reported():
    english = "Run `python -m jukebox.lab up`.\n\n```bash\nmake setup  # once\n```\n"
    korean = "`python -m jukebox.lab status`를 실행합니다.\n\n```bash\nmake test  # 한 번\n```\n"
    problems = translation_problems(english, korean)
    assert "README.ko.md lacks `python -m jukebox.lab up`, which README.md has." in problems
    assert "README.ko.md has `python -m jukebox.lab status`, which README.md lacks." in problems
    assert "Code block 1 differs: README.md has 'make setup', README.ko.md 'make test'." in problems
    translated = "`python -m jukebox.lab up`을 실행합니다.\n\n```bash\nmake setup  # 한 번\n```\n"
    assert translation_problems(english, translated) == []
