"""Read the local model registry (MLflow): what a run registered, and its lineage."""

import os


def _client():
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])


def model_versions() -> set[tuple[str, str]]:
    """Every (model name, version) in the registry; empty when none is configured."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return set()
    return {(version.name, version.version) for version in _client().search_model_versions()}


def describe_new_versions(before: set[tuple[str, str]]) -> list[str]:
    """One line per version registered since ``before``: name, version, accuracy, where."""
    lines = []
    for name, number in sorted(model_versions() - before):
        version = _client().get_model_version(name, number)
        where = os.environ["MLFLOW_TRACKING_URI"]
        if where.startswith("http"):
            where = f"the MLflow UI: {where}/#/models/{name}/versions/{number}"
        lines.append(
            f"Registered model {name} version {number} (accuracy {version.tags.get('accuracy', '?')}); see {where}"
        )
    return lines
