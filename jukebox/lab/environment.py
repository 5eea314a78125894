"""The variables the lab exports: the cluster secrets' key names, plus the lab's URLs.

Components read ``AWS_S3_ENDPOINT``, ``AWS_ACCESS_KEY_ID``… (secret ``aws-connection-data``) and
``username``/``password`` (secret ``git-auth``) on the cluster; the lab sets the same names, so the
same code runs in both targets.

The feature store (chapter 7) needs two more: ``FEAST_FS_YAML_FILE_PATH``, Feast's own variable
for the configuration file to use (the lab's SQLite store instead of the cluster's PostgreSQL in
``feature_repo/feature_store.yaml``), and ``AWS_ENDPOINT_URL_S3``, the AWS SDK's variable for the
S3 endpoint, with which Feast reads the offline store (``jukebox.feature_store`` sets it from
``AWS_S3_ENDPOINT`` where only that one is set, as on the cluster). Its notebooks 3 and 4 call the
participant's model server: ``JUKEBOX_PREDICTOR_URL`` (the model itself), ``JUKEBOX_MODEL_URL``
(the transformer in front of it, as the InferenceService's URL on the cluster) and
``JUKEBOX_REGISTERED_MODEL`` (the participant's model in the lab's one MLflow registry).
``JUKEBOX_MODEL_VOLUME`` is the folder that stands in for the cluster's model volume, where a CT
run (``prod_flag`` true) puts the model for the workshop's model car.

Two feature stores, as in the workshop: the workbench's (the inner loop: notebooks, the play
button) is there from the start; the outer loop's (CT, the lab's data pipeline runs, ``lab serve``)
is the participant's own once they declare ``toolings/feast-database/config.yaml`` in mlops-gitops
(``outer_loop_environment``).
"""

from pathlib import Path

from jukebox.lab import feast_database, process, settings

LAB_FEATURE_STORE = Path(__file__).with_name("feature_store.yaml")

ENV_KEYS = (
    "AWS_S3_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_S3_BUCKET",
    "username",
    "password",
)


def lab_environment(lab: settings.LabSettings, user: str | None = None) -> dict[str, str]:
    """``user``'s variables: their own S3 (endpoint and keys), their git credentials, the lab's URLs."""
    creds = settings.credentials(lab)
    user = user or lab.default_user
    keys = settings.s3_keys(lab, user)
    model_server, transformer, _ = lab.serving_port_names(user)
    return {
        "AWS_S3_ENDPOINT": lab.s3_url(user),
        "AWS_ACCESS_KEY_ID": keys["access_key"],
        "AWS_SECRET_ACCESS_KEY": keys["secret_key"],
        "AWS_DEFAULT_REGION": settings.REGION,
        "AWS_S3_BUCKET": "pipeline",
        "AWS_ENDPOINT_URL_S3": lab.s3_url(user),
        "username": user,
        "password": creds["git"][user],
        "MLFLOW_TRACKING_URI": lab.url("mlflow"),
        "JUKEBOX_GIT_URL": lab.git_url,
        "JUKEBOX_RAW_URL": lab.raw_url,
        "JUKEBOX_LAB_HOME": str(lab.home),
        "JUKEBOX_MODEL_VOLUME": str(lab.home / "model-volume" / user),  # the cluster's model PVC, for CT runs
        "FEAST_FS_YAML_FILE_PATH": str(LAB_FEATURE_STORE),
        # chapter 7's serving (`lab serve`): the model itself, and the transformer in front of it
        "JUKEBOX_REGISTERED_MODEL": lab.model_name(user),
        "JUKEBOX_PREDICTOR_URL": lab.url(model_server),
        "JUKEBOX_MODEL_URL": lab.url(transformer),
    }


def outer_loop_environment(lab: settings.LabSettings, user: str) -> dict[str, str]:
    """What CT, the lab's pipeline runs and ``lab serve`` give their steps: ``user``'s outer-loop Feast.

    Before the participant declares the feast database, the file does not exist and each step that
    opens the store says what to declare.
    """
    own_store = str(feast_database.config_path(lab, user))
    return {**lab_environment(lab, user), "FEAST_FS_YAML_FILE_PATH": own_store}


def running_lab_environment() -> dict[str, str] | None:
    """The lab's variables when the lab is up (its controller runs), else None."""
    lab = settings.load()
    if lab is None or process.running_pid(lab.home, "controller") is None:
        return None
    return lab_environment(lab)
