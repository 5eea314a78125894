"""Run one step of a local pipeline run: kfp's own executor, as the cluster's pod runs it.

In the lab every step runs in this one environment, where Feast is installed beside MLflow: a step
that talks to the registry would first import all of Feast through its MLflow plugin, in each such
step of each training. A step's image on the cluster has no such plugin, so a local step leaves it
out too (``jukebox.mlflow_plugins``), then hands over to ``kfp.dsl.executor_main`` with the step's
own arguments.
"""

import runpy

from jukebox.mlflow_plugins import leave_out_feasts_mlflow_plugin

if __name__ == "__main__":
    leave_out_feasts_mlflow_plugin()
    runpy.run_module("kfp.dsl.executor_main", run_name="__main__", alter_sys=True)
