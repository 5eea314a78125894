"""The edits participants make to chapter files, done the way they do them (comment in/out)."""


def switch_training_to_dvc(source: str) -> str:
    """In prod_train_save_pipeline.py: comment out the URL fetch, uncomment the DVC block."""
    lines, out, in_dvc_block = source.splitlines(), [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("### "):
            in_dvc_block = stripped.startswith("### 🍇")
        elif stripped.startswith("fetch_task = fetch_data(") or stripped == "fetch_task.set_caching_options(False)":
            if not in_dvc_block:
                line = line.replace(stripped, "# " + stripped)
        elif in_dvc_block and stripped.startswith("# "):
            line = line.replace("# ", "", 1)
        out.append(line)
    edited = "\n".join(out) + "\n"
    assert edited.count("fetch_task = fetch_data_from_dvc(") == 1 and "    # fetch_task = fetch_data(" in edited
    return edited
