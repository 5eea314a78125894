"""Submit a pipeline from a cluster workbench, as the workshop does.

In an OpenShift AI workbench the pod's service account gives the namespace, a token and the
service CA; the Data Science Pipelines server of the namespace is at a fixed address. The token
is handed to ``kfp.Client`` and never printed.
"""

from collections.abc import Callable
from pathlib import Path

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_workbench(service_account: Path = SERVICE_ACCOUNT) -> bool:
    """True in a pod with a service account: a cluster workbench."""
    return (service_account / "token").is_file() and (service_account / "namespace").is_file()


def submit(
    pipeline_func: Callable,
    arguments: dict,
    experiment_name: str,
    service_account: Path = SERVICE_ACCOUNT,
    client_factory: Callable | None = None,
):
    """Create a run of ``pipeline_func`` on the namespace's pipeline server; return the run."""
    if client_factory is None:
        import kfp

        client_factory = kfp.Client
    namespace = (service_account / "namespace").read_text().strip()
    client = client_factory(
        host=f"https://ds-pipeline-dspa.{namespace}.svc:8443",
        existing_token=(service_account / "token").read_text().strip(),
        ssl_ca_cert=str(service_account / "service-ca.crt"),
    )
    run = client.create_run_from_pipeline_func(
        pipeline_func,
        arguments=arguments,
        experiment_name=experiment_name,
        namespace=namespace,
        enable_caching=True,
    )
    print(f"Submitted run {run.run_id} of {experiment_name} to the pipeline server of {namespace}.")
    return run
