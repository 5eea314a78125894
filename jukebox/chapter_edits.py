"""The edits participants make to chapter files, done the way they do them (comment in/out).

The scenario tests and `make workshop` make them, so that both do what the guides tell participants.
"""

FETCH_BLOCKS = {"urls": "### 🐶", "dvc": "### 🍇", "feast": "### 🛍️"}


def switch_training_source(source: str, to: str) -> str:
    """In prod_train_save_pipeline.py: comment out the active fetch block, uncomment the block ``to``.

    A block runs from its ``### …`` title to the next blank line; as an editor's "toggle comment"
    does, ``# `` goes at the title's indentation.
    """
    out, block, indent = [], None, 0
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("### "):
            block = next((name for name, title in FETCH_BLOCKS.items() if stripped.startswith(title)), None)
            indent = len(line) - len(line.lstrip())
        elif not stripped:
            block = None
        elif block == to and line[indent:].startswith("# "):
            line = line[:indent] + line[indent + 2 :]
        elif block and block != to and not line[indent:].startswith("#"):
            line = line[:indent] + "# " + line[indent:]
        out.append(line)
    active = [line for line in out if line.strip().startswith("fetch_task = fetch_data")]
    if len(active) != 1:
        raise ValueError(f"After the edit, {len(active)} fetch blocks are active instead of one: {active}")
    return "\n".join(out) + "\n"


def active_source(source: str) -> str | None:
    """Which fetch block of prod_train_save_pipeline.py is active (``urls``, ``dvc``, ``feast``), if one is."""
    block, active = None, []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("### "):
            block = next((name for name, title in FETCH_BLOCKS.items() if stripped.startswith(title)), None)
        elif not stripped:
            block = None
        elif block and stripped.startswith("fetch_task = fetch_data"):
            active.append(block)
    return active[0] if len(active) == 1 else None


def feature_left_out(service_source: str, feature: str) -> bool:
    """Whether ``feature``'s line of feature_service.py is commented out."""
    return f'# "{feature}",' in service_source


def switch_training_to_dvc(source: str) -> str:
    return switch_training_source(source, "dvc")


def leave_out_feature(service_source: str, feature: str) -> str:
    """In feature_repo/feature_service.py: comment out the line of ``feature``."""
    line = f'"{feature}",'
    if f"# {line}" in service_source:
        return service_source  # left out already
    if service_source.count(line) != 1:
        raise ValueError(f"{feature} is not on exactly one line of the feature service.")
    return service_source.replace(line, f"# {line}")
