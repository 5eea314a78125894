"""The workshop's own words work as written: each edit its instructions ask for, made as a participant makes it.

The edits come from two places, and neither is copied into this module:

- the kit's guides, whose blocks are tagged ``<!-- workshop-edit: NAME -->`` (``make workshop``, the
  course's checkpoints and the scenario tests make the same edits from the same blocks:
  ``jukebox/course/workshop_edits.py``);
- the workshop's own pages (``../shared/seeds``, two pages of its instructions in Korean), read
  here as a participant reads them: the block after the words that name it.

Each edited training script then runs as the play button runs it (a kernel in the script's folder,
the file's text, no ``__file__``) and compiles. The lab's side of the story (the pushes, the CT
runs failing on purpose and then succeeding through DVC, Feast and 12 features) is lived by
``test_scenario_a.py`` and ``test_scenario_b.py`` with these same edits.
"""

import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from kerneltools import compile_in_kernel

from jukebox import chapter_edits
from jukebox.course import workshop_edits
from jukebox.lab import gitops
from jukebox.lab.controller import GITOPS_TEMPLATE
from jukebox.paths import REPO_ROOT

TRAINING = Path(workshop_edits.TRAINING)
SERVICE = Path(workshop_edits.SERVICE)
S3_KEYS = {"AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_S3_BUCKET"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<language>\w*)[^\n]*\n(?P<code>.*?)\n(?P=indent)```", re.M | re.S)
PRE = re.compile(r"<pre><code[^>]*>\n?(?P<code>.*?)</code></pre>", re.S)


# ---- the kit as a participant's clone, and the play button --------------------------------------


@pytest.fixture
def kit(tmp_path) -> Path:
    """A copy of the chapters the edits touch, laid out as in the repo (no compiled YAML)."""
    root = tmp_path / "jukebox"
    for chapter in ("3-prod_datascience", "7-feature_store"):
        ignore = shutil.ignore_patterns("training-pipeline.yaml", "song-properties-etl.yaml", "__pycache__")
        shutil.copytree(REPO_ROOT / chapter, root / chapter, ignore=ignore)
    return root


def workbench_environment(tmp_path: Path) -> dict[str, str]:
    """A workbench with no lab and no cluster: nothing points at S3, git or a registry."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "MLFLOW_", "JUKEBOX_"))}
    return {**env, "JUKEBOX_LAB_HOME": str(tmp_path / "no-lab")}


def play_and_compile(kit: Path, tmp_path: Path) -> tuple[dict, dict, str]:
    """The training script, run by the play button's kernel and compiled: (spec, kubernetes executors, output)."""
    script = kit / TRAINING
    output = compile_in_kernel(script, "training_pipeline", workbench_environment(tmp_path)).check()
    spec, platform = yaml.safe_load_all((script.with_suffix(".yaml")).read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"], output


def pipeline_inputs(task: dict) -> dict[str, str]:
    """The step's inputs that come from the pipeline's parameters (the others are the kit's constants)."""
    parameters = task["inputs"]["parameters"]
    return {
        name: value["componentInputParameter"]
        for name, value in parameters.items()
        if "componentInputParameter" in value
    }


def secrets_of(executor: dict) -> dict[str, set[str]]:
    return {secret["secretName"]: {item["envVar"] for item in secret["keyToEnv"]} for secret in executor["secretAsEnv"]}


def assert_fetches_from_dvc(spec: dict, executors: dict) -> None:
    tasks = spec["root"]["dag"]["tasks"]
    assert "fetch-data-from-dvc" in tasks and "fetch-data" not in tasks
    fetch = tasks["fetch-data-from-dvc"]
    assert pipeline_inputs(fetch) == {"cluster_domain": "cluster_domain", "git_version": "version"}, "the block's"
    assert fetch["cachingOptions"] == {}, "the data behind a version is fetched afresh"
    executor = executors["exec-fetch-data-from-dvc"]
    assert executor["fieldPathAsEnv"] == [{"name": "namespace", "fieldPath": "metadata.namespace"}]
    assert secrets_of(executor) == {"aws-connection-data": S3_KEYS, "git-auth": {"username", "password"}}


def edit(path: Path, change) -> None:
    path.write_text(change(path.read_text()))


# ---- the guides' edits --------------------------------------------------------------------------


def test_the_guides_dvc_edit_compiles_in_the_play_buttons_kernel(kit, tmp_path):
    edit(kit / TRAINING, workshop_edits.DVC.change)
    source = (kit / TRAINING).read_text()
    assert "    # fetch_task = fetch_data()\n" in source, "the one line, commented out"
    assert chapter_edits.active_source(source) == "dvc"
    spec, executors, _ = play_and_compile(kit, tmp_path)
    assert_fetches_from_dvc(spec, executors)
    assert workshop_edits.DVC.message == "🍇 fetch data via DVC 🍇"


def test_the_guides_feast_edit_compiles_with_only_the_data_connection(kit, tmp_path):
    edit(kit / TRAINING, workshop_edits.DVC.change)
    edit(kit / TRAINING, workshop_edits.FEAST.change)
    source = (kit / TRAINING).read_text()
    commented = chapter_edits.guide_block(workshop_edits.CHAPTER_7, "dvc-block-commented")
    assert textwrap.indent(commented.rstrip("\n"), "    ").replace("    #\n", "\n") in source, "as the page shows it"
    spec, executors, _ = play_and_compile(kit, tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert "fetch-data-from-feast" in tasks and not {"fetch-data", "fetch-data-from-dvc"} & set(tasks)
    assert pipeline_inputs(tasks["fetch-data-from-feast"]) == {"version": "version"}, "the block's"
    assert secrets_of(executors["exec-fetch-data-from-feast"]) == {"aws-connection-data": S3_KEYS}
    assert "fieldPathAsEnv" not in executors["exec-fetch-data-from-feast"]
    assert workshop_edits.FEAST.message == "🛍️ fetch data via Feast 🛍️"


def test_two_sources_left_active_the_run_says_which_it_uses(kit, tmp_path):
    dvc_block = chapter_edits.guide_block(workshop_edits.CHAPTER_5, "dvc-block")
    edit(kit / TRAINING, lambda source: chapter_edits.paste_under(source, dvc_block))  # fetch_data() left active
    spec, executors, output = play_and_compile(kit, tmp_path)
    assert_fetches_from_dvc(spec, executors)
    (said,) = [line for line in output.splitlines() if "data sources are active" in line]
    assert said == (
        "Two data sources are active in kfp-training-pipeline: it trains on fetch-data-from-dvc, the last one "
        "set, and leaves out fetch-data; comment out the block you do not use."
    )


def test_the_guides_gitops_edits_add_lines_to_the_labs_files():
    minio = (GITOPS_TEMPLATE / gitops.MINIO_CONFIG).read_text()
    declared = workshop_edits.BUCKETS.change(minio)
    assert gitops.declared_buckets(yaml.safe_load(declared)) == ["pipeline", "models", "data", "data-cache"]
    assert declared.startswith(minio) and "- name: data-cache # 👈 add this\n" in declared, "added, comments kept"
    assert workshop_edits.BUCKETS.change(declared) == declared, "the same lines twice add nothing"
    assert workshop_edits.BUCKETS.message == "🪣 data buckets added 🪣"

    ct = (GITOPS_TEMPLATE / gitops.CT_CONFIG).read_text()
    assert yaml.safe_load(ct)["chart_path"] == "charts/pipelines" and "apply_feature_changes" not in ct
    turned_on = workshop_edits.FEATURE_CHANGES.change(ct)
    assert turned_on == ct + "apply_feature_changes: true # 👈 add this\n"
    assert yaml.safe_load(turned_on)["apply_feature_changes"] is True
    assert workshop_edits.FEATURE_CHANGES.message == "✅ Features automatically applied ✅"


def test_the_guides_loudness_edit_gives_the_file_the_guide_shows():
    shown = chapter_edits.guide_block(workshop_edits.CHAPTER_7, "feature-service")
    edited = workshop_edits.LOUDNESS.change((REPO_ROOT / SERVICE).read_text())
    assert edited.splitlines()[13] == '            # "loudness", # 👈 change this to a comment'
    assert edited.splitlines()[: len(shown.splitlines())] == shown.splitlines()
    assert chapter_edits.feature_left_out(edited, "loudness")
    assert workshop_edits.LOUDNESS.message == "🎺 Remove feature loudness 🎺"


# ---- the workshop's own pages -------------------------------------------------------------------


def seeds_folder() -> Path | None:
    candidates = [os.environ.get("JUKEBOX_SEEDS"), REPO_ROOT.parent / "shared" / "seeds", "/work/shared/seeds"]
    return next((Path(folder) for folder in candidates if folder and Path(folder).is_dir()), None)


@pytest.fixture
def seeds() -> dict[str, str]:
    """The workshop's pages: chapter 5's "update the CT pipeline" (000) and chapter 7's "more pipelines" (004)."""
    folder = seeds_folder()
    if folder is None:
        if os.environ.get("CI") == "true":
            pytest.fail("The workshop's pages (../shared/seeds) are missing: CI must check the kit against them.")
        pytest.skip("The workshop's pages (../shared/seeds) are not on this machine.")
    pages = {path.name[:3]: path.read_text() for path in folder.glob("*.txt")}
    assert {"000", "004"} <= set(pages), f"{folder} lacks the pages 000 and 004"
    return pages


def page_blocks(page: str) -> list[str]:
    """The page's code, as a participant copies it: its fenced blocks and its <pre><code> blocks."""
    return [textwrap.dedent(match["code"]) for match in [*FENCE.finditer(page), *PRE.finditer(page)]]


def block_with(page: str, words: str) -> str:
    (block,) = [block for block in page_blocks(page) if words in block and "git commit" not in block]
    return block


def commit_words(page: str) -> list[str]:
    """The commit messages of a page, in its order, by their words (a mis-encoded page garbles the emoji)."""
    return [
        " ".join(re.findall(r"[A-Za-z]+", chapter_edits.commit_message(block)))
        for block in page_blocks(page)
        if "git commit" in block
    ]


def test_the_workshops_chapter_5_page_works_as_written(seeds, kit, tmp_path):
    page = seeds["000"]
    minio = (GITOPS_TEMPLATE / gitops.MINIO_CONFIG).read_text()
    declared = chapter_edits.add_marked_lines(minio, block_with(page, "chart_path: charts/minio"))
    assert gitops.declared_buckets(yaml.safe_load(declared)) == ["pipeline", "models", "data", "data-cache"]

    (line,) = [line for line in block_with(page, "fetch_task = fetch_data()").splitlines() if "fetch_data()" in line]
    dvc_block = block_with(page, "fetch_data_from_dvc(")
    edit(kit / TRAINING, lambda source: chapter_edits.paste_under(chapter_edits.comment_out(source, line), dvc_block))
    spec, executors, output = play_and_compile(kit, tmp_path)
    assert_fetches_from_dvc(spec, executors)
    assert "data sources are active" not in output

    guide = chapter_edits.guide_block(workshop_edits.CHAPTER_5, "dvc-block").splitlines()
    assert guide[1:] == dvc_block.splitlines()[1:], "the guide's block is the page's, character for character"
    assert commit_words(page) == ["data buckets added", "fetch data via DVC"]
    changes = (workshop_edits.BUCKETS, workshop_edits.DVC)
    assert [" ".join(re.findall(r"[A-Za-z]+", change.message)) for change in changes] == commit_words(page)


def test_the_workshops_chapter_7_page_works_as_written(seeds, kit):
    page = seeds["004"]
    ct_shown = block_with(page, "chart_path: charts/pipelines")
    ct = (GITOPS_TEMPLATE / gitops.CT_CONFIG).read_text()
    as_the_page_writes_it = ct
    for name in ("USER_NAME", "CLUSTER_DOMAIN", "GIT_SERVER"):  # the template's {user_name}… are the page's <…>
        as_the_page_writes_it = as_the_page_writes_it.replace(f"{{{name.lower()}}}", f"<{name}>")
    before = [line for line in ct_shown.splitlines() if not chapter_edits.HINT.search(line)]
    assert as_the_page_writes_it.splitlines() == before, "the lab's file is the page's before the added line"
    turned_on = chapter_edits.add_marked_lines(ct, ct_shown)
    assert yaml.safe_load(turned_on)["apply_feature_changes"] is True

    service_shown = block_with(page, "FeatureService(")
    service = kit / SERVICE
    shown_lines = [line.rstrip() for line in service_shown.rstrip().splitlines()]
    (changed,) = chapter_edits.marked_lines(service_shown)
    assert shown_lines.index(changed.rstrip()) == 13, "the page's line 14"
    original = service.read_text().splitlines()
    assert original[13].strip() == '"loudness",' and len(original) >= len(shown_lines)
    edit(service, lambda source: chapter_edits.comment_out(source, changed))
    assert [line.rstrip() for line in service.read_text().splitlines()[: len(shown_lines)]] == shown_lines

    guide = chapter_edits.guide_block(workshop_edits.CHAPTER_7, "feature-service")
    assert guide.splitlines() == shown_lines, "the guide shows the page's file"
    guide_ct = chapter_edits.guide_block(workshop_edits.CHAPTER_7, "ct-pipeline-config")
    assert guide_ct.splitlines() == ct_shown.splitlines()
    assert commit_words(page) == ["Features automatically applied", "Remove feature loudness"]
    changes = (workshop_edits.FEATURE_CHANGES, workshop_edits.LOUDNESS)
    assert [" ".join(re.findall(r"[A-Za-z]+", change.message)) for change in changes] == commit_words(page)
