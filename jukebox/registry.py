"""Say where a local run's registered model is: the registry's UI, or its SQLite file."""

import os
import re

# What the registration step prints (3-prod_datascience/save_model.py) when it registers in MLflow.
_REGISTERED = re.compile(r"^\s*Registered (\S+) version (\d+) in MLflow \(accuracy ([\d.]+)", re.MULTILINE)


def registered_versions(output: str) -> list[str]:
    """One line per model version a run registered (read from its output): name, version, accuracy, where."""
    lines = []
    for name, number, accuracy in _REGISTERED.findall(output):
        where = os.environ.get("MLFLOW_TRACKING_URI", "")
        if where.startswith("http"):
            where = f"the MLflow UI: {where}/#/models/{name}/versions/{number}"
        lines.append(f"Registered model {name} version {number} (accuracy {accuracy}); see {where}")
    return lines
