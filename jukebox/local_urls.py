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

A value given for the run (``--set``, a schedule's parameters) is used as it is. What the steps
get from the pipeline itself (``fetch_data()``, as the workshop writes it, passes the workshop's
URLs as constants) is pointed at this machine the same way, for the length of the run
(``steps_pointed_here``).
"""

import contextlib
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


def _text_values(pipeline_spec) -> list:
    """The protobuf values of the spec that a step may read as text: defaults and constant arguments."""
    values = []
    for component in [pipeline_spec.root, *pipeline_spec.components.values()]:
        values += [parameter.default_value for parameter in component.input_definitions.parameters.values()]
        if component.HasField("dag"):
            for task in component.dag.tasks.values():
                values += [parameter.runtime_value.constant for parameter in task.inputs.parameters.values()]
    return [value for value in values if value.HasField("string_value")]


@contextlib.contextmanager
def steps_pointed_here(pipeline_func, data_url: str, git_url: str | None, user: str | None):
    """While the block runs, the text the steps get that is one of the workshop's URLs points at this machine.

    ``kfp.local`` gives a step what the pipeline's spec says: a constant argument (``fetch_data()``
    passes the workshop's URLs so) or the step's default. They are changed in that spec and put
    back afterwards.
    """
    changed = []
    for value in _text_values(pipeline_func.pipeline_spec):
        local = local_url(value.string_value, data_url, git_url, user)
        if local != value.string_value:
            changed.append((value, value.string_value))
            value.string_value = local
    try:
        yield
    finally:
        for value, original in changed:
            value.string_value = original
