"""Say where a local run's registered model is: the registry's UI, or its SQLite file."""

import os


def registered_model_line(parameters: dict, outputs: dict) -> str | None:
    """Where to see the version a run registered (its output ``registered_version``), if it registered one."""
    name, version = parameters.get("model_name"), outputs.get("registered_version")
    if not (name and version):
        return None
    where = os.environ.get("MLFLOW_TRACKING_URI", "")
    if where.startswith("http"):
        where = f"the MLflow UI: {where}/#/models/{name}/versions/{version}"
    return f"Registered model {name} version {version}; see {where}"
