"""Feast's MLflow plugin, left out of the lab's processes that have no Feast on the cluster.

Feast registers an MLflow plugin (a request-header provider, for the cluster's service-account
token), and MLflow loads its plugins at a process's first request to the registry: that imports all
of Feast, about 5 s of CPU here (more than half of it typeguard instrumenting Feast's classes). On the cluster
a pipeline step's image holds only its own ``packages_to_install`` and the model server is OpenVINO's,
so neither has that plugin. In the lab everything shares one environment where Feast is installed
beside MLflow: ``leave_out_feasts_mlflow_plugin`` makes a process (a pipeline step, the model server)
start as it would on the cluster, and so does the lab's CT deploy step (in its controller), as the
cluster's deploy task has no Feast either. Processes that use Feast themselves keep the plugin.
"""

import importlib.metadata

MLFLOW_HEADER_PLUGINS = "mlflow.request_header_provider"
_entry_points = importlib.metadata.entry_points


def entry_points_without_feasts_mlflow_plugin(**selection):
    """``importlib.metadata.entry_points``, less Feast's entry in MLflow's request-header group."""
    found = _entry_points(**selection)
    if selection.get("group") != MLFLOW_HEADER_PLUGINS:
        return found
    return importlib.metadata.EntryPoints(point for point in found if not point.value.startswith("feast."))


def leave_out_feasts_mlflow_plugin() -> None:
    """From now on in this process, MLflow finds no Feast plugin (call it before the first registry request)."""
    importlib.metadata.entry_points = entry_points_without_feasts_mlflow_plugin
