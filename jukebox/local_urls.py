"""The workshop's URLs, pointed at this machine: what a local run changes in a pipeline's parameters.

The chapter scripts keep the workshop's defaults (a raw GitHub URL of a data file, the cluster's
Gitea repo), so that the YAML they compile is the workshop's. A local run cannot reach those, so
before it starts, in the defaults of the parameters the run was not given:

- a URL of a file in ``99-data_prep/`` becomes the same file served by the lab (or, with no lab
  up, by a small server for the run);
- a git repo URL ``https://<server>/<user>/<repo>.git`` becomes that repo of the participant
  (``username``) on the lab's git server (``JUKEBOX_GIT_URL``), when the lab is up;
- the default ``model_name`` becomes the participant's model in the lab's one registry
  (``JUKEBOX_REGISTERED_MODEL``: ``jukebox`` for user1, ``jukebox-<user>`` for the others).

A value given for the run (``--set``, a schedule's parameters) is used as it is.
"""

import re

_DATA_FILE = re.compile(r"^https?://\S+/99-data_prep/([\w.-]+)$")
_GIT_REPO = re.compile(r"^https?://[^/\s]+/[\w.-]+/([\w.-]+\.git)$")


def pipeline_defaults(pipeline_func) -> dict:
    """The parameters' defaults as the pipeline declares them."""
    inputs = pipeline_func.component_spec.inputs or {}
    return {name: spec.default for name, spec in inputs.items() if spec.default is not None}


def local_url(value, data_url: str, git_url: str | None, user: str | None):
    """``value``, pointed at this machine when it is one of the workshop's URLs (see above)."""
    if not isinstance(value, str):
        return value
    if data_file := _DATA_FILE.match(value):
        return f"{data_url}/{data_file.group(1)}"
    if git_url and user and (repo := _GIT_REPO.match(value)):
        return f"{git_url}/{user}/{repo.group(1)}"
    return value


def local_arguments(
    pipeline_func, arguments: dict, data_url: str, git_url: str | None, user: str | None, model: str | None = None
) -> dict:
    """Every parameter of a local run: ``arguments``, and the defaults with the workshop's URLs made local.

    Args:
        pipeline_func: the ``@dsl.pipeline`` function.
        arguments: the parameters given for this run, used as they are.
        data_url: where ``99-data_prep/`` is served.
        git_url: the lab's git server (``JUKEBOX_GIT_URL``), or None when no lab is up.
        user: the participant whose repos a run uses (``username``).
        model: the participant's registered model in the lab (``JUKEBOX_REGISTERED_MODEL``), if any.
    """
    defaults = {
        name: local_url(value, data_url, git_url, user) for name, value in pipeline_defaults(pipeline_func).items()
    }
    if model and "model_name" in defaults:
        defaults["model_name"] = model
    return {**defaults, **arguments}
