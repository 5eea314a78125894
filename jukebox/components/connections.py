"""How a step gets what the cluster knows: one helper per secret, read the same way in every chapter.

On the cluster each helper adds a secret's keys (or the pod's namespace) to the step's environment;
the compiled YAML names the secret, never its values. In the local lab ``kfp.local`` ignores these
settings, and the lab exports the same variable names, so a step's code is the same in both.

Give a step only the secrets it uses::

    use_data_connection(load_task)
    use_git_auth(version_task)
"""

S3_KEYS = ("AWS_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_S3_BUCKET")
GIT_KEYS = ("username", "password")


def _use_secret(task, secret_name: str, keys: tuple[str, ...]) -> None:
    from kfp import kubernetes

    kubernetes.use_secret_as_env(task, secret_name=secret_name, secret_key_to_env={key: key for key in keys})


def use_data_connection(task) -> None:
    """The S3 connection of the ``data`` bucket side (secret ``aws-connection-data``)."""
    _use_secret(task, "aws-connection-data", S3_KEYS)


def use_models_connection(task) -> None:
    """The S3 connection where models are stored (secret ``aws-connection-models``)."""
    _use_secret(task, "aws-connection-models", S3_KEYS)


def use_git_auth(task) -> None:
    """The participant's git credentials (secret ``git-auth``)."""
    _use_secret(task, "git-auth", GIT_KEYS)


def use_namespace(task) -> None:
    """The pod's namespace as ``namespace`` (the participant's project: it names their services)."""
    from kfp import kubernetes

    kubernetes.use_field_path_as_env(task, env_name="namespace", field_path="metadata.namespace")
