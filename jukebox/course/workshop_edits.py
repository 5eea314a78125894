"""The course's edits: the guides' blocks, pasted, commented out and added as the guides say.

Each edit reads its block from the chapter's guide (``<!-- workshop-edit: NAME -->``), and its
commit message from the guide's commands, so that ``make workshop``, ``checkpoint`` and the
scenario tests prove the instructions participants follow, not a kit-only variant of them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jukebox import chapter_edits
from jukebox.chapter_edits import guide_block
from jukebox.lab.feast_database import CONFIG as FEAST_DATABASE_CONFIG
from jukebox.lab.gitops import CT_CONFIG, MINIO_CONFIG
from jukebox.paths import REPO_ROOT

CHAPTER_5 = REPO_ROOT / "5-data-versioning" / "README.md"
CHAPTER_7 = REPO_ROOT / "7-feature_store" / "README.md"
TRAINING = "3-prod_datascience/prod_train_save_pipeline.py"
SERVICE = "7-feature_store/feature_repo/feature_service.py"


def declare_buckets(config: str) -> str:
    """Chapter 5, step 1: add the two bucket lines marked ``# 👈 add this``."""
    return chapter_edits.add_marked_lines(config, guide_block(CHAPTER_5, "minio-buckets"))


def fetch_from_dvc(source: str) -> str:
    """Chapter 5, step 5: comment out ``fetch_task = fetch_data()``, paste the DVC block under its marker."""
    source = chapter_edits.comment_out(source, guide_block(CHAPTER_5, "comment-out-fetch-data").strip())
    return chapter_edits.paste_under(source, guide_block(CHAPTER_5, "dvc-block"))


def declare_feast_database(config: str) -> str:
    """Chapter 7, step 5: the new file ``toolings/feast-database/config.yaml``, as the guide shows it.

    The guide's placeholders stay: the participant writes their values (``chapter_edits.fill_in``).
    A file already there is kept.
    """
    return config if config.strip() else guide_block(CHAPTER_7, "feast-database")


def fetch_from_feast(source: str) -> str:
    """Chapter 7, step 5: comment out the DVC block (or, without chapter 5, the URL line), paste the Feast block."""
    commented = guide_block(CHAPTER_7, "dvc-block-commented")
    if chapter_edits.active_source(source) == "dvc":
        source = chapter_edits.comment_out_block(source, commented.strip().splitlines()[0], commented)
    elif chapter_edits.active_source(source) == "urls":
        source = chapter_edits.comment_out(source, guide_block(CHAPTER_5, "comment-out-fetch-data").strip())
    return chapter_edits.paste_under(source, guide_block(CHAPTER_7, "feast-block"))


def apply_feature_changes(config: str) -> str:
    """Chapter 7, step 11: add ``apply_feature_changes: true # 👈 add this``."""
    return chapter_edits.add_marked_lines(config, guide_block(CHAPTER_7, "ct-pipeline-config"))


def without_loudness(source: str) -> str:
    """Chapter 7, step 12: line 14 becomes ``# "loudness", # 👈 change this to a comment``."""
    for line in chapter_edits.marked_lines(guide_block(CHAPTER_7, "feature-service")):
        if not chapter_edits.feature_left_out(source, "loudness"):
            source = chapter_edits.comment_out(source, line)
    return source


@dataclass(frozen=True)
class Edit:
    """One edit of the guides: a file of a repo, how it changes, and the guide's commands to commit it."""

    repo: str
    path: str
    change: Callable[[str], str]
    guide: Path  # the chapter's guide, whose blocks the change reads
    commands: str  # the tag of the guide's block of commands, with the commit message

    @property
    def message(self) -> str:
        return chapter_edits.commit_message(guide_block(self.guide, self.commands))


BUCKETS = Edit("mlops-gitops", MINIO_CONFIG, declare_buckets, CHAPTER_5, "buckets-commit")
DVC = Edit("jukebox", TRAINING, fetch_from_dvc, CHAPTER_5, "dvc-commit")
FEAST_DATABASE = Edit("mlops-gitops", FEAST_DATABASE_CONFIG, declare_feast_database, CHAPTER_7, "feast-database-commit")
FEAST = Edit("jukebox", TRAINING, fetch_from_feast, CHAPTER_7, "feast-commit")
FEATURE_CHANGES = Edit("mlops-gitops", CT_CONFIG, apply_feature_changes, CHAPTER_7, "ct-pipeline-commit")
LOUDNESS = Edit("jukebox", SERVICE, without_loudness, CHAPTER_7, "feature-service-commit")
