"""Run one step of a local pipeline run: kfp's own executor, as the cluster's pod runs it.

In the lab every step runs in this one environment, where Feast is installed beside MLflow. Feast
registers an MLflow plugin (a request-header provider, for the cluster's service-account token),
and MLflow loads its plugins at its first request: a step that talks to the registry would first
import all of Feast, about 3 s here, in each such step of each training. On the cluster a step's
image holds only its own ``packages_to_install``, so that plugin is not there. A local step leaves
it out the same way, then hands over to ``kfp.dsl.executor_main`` with the step's own arguments.
"""

import importlib.metadata
import runpy

MLFLOW_HEADER_PLUGINS = "mlflow.request_header_provider"
_entry_points = importlib.metadata.entry_points


def entry_points_without_feasts_mlflow_plugin(**selection):
    """``importlib.metadata.entry_points``, less Feast's entry in MLflow's request-header group."""
    found = _entry_points(**selection)
    if selection.get("group") != MLFLOW_HEADER_PLUGINS:
        return found
    return importlib.metadata.EntryPoints(point for point in found if not point.value.startswith("feast."))


if __name__ == "__main__":
    importlib.metadata.entry_points = entry_points_without_feasts_mlflow_plugin
    runpy.run_module("kfp.dsl.executor_main", run_name="__main__", alter_sys=True)
