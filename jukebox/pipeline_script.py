"""What a pipeline script does when run (the play button in Elyra, or ``python script.py``).

- ``--compile``: write the pipeline YAML next to the script, to upload in the dashboard.
- in a cluster workbench: submit the pipeline to the namespace's pipeline server.
- anywhere else: run it on this machine with ``kfp.local``.

With ``compile_by_default=True`` (chapter 5's data pipeline, which participants import and
schedule in the dashboard) the play button only writes the YAML, also in a workbench; ``--local``
still runs it here.

A pipeline script stays short: its components, its DAG, and one call to ``run_pipeline_script``.

The play button does not run ``python script.py``: Elyra starts a Jupyter kernel in the script's
folder and sends the file's text as one cell. There is no ``__file__`` and ``sys.argv`` is the
kernel's own (``ipykernel_launcher.py -f <connection file>``). So the script's folder and its
options are worked out here, the same way for both.
"""

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from jukebox import cluster, local_run

_KERNEL_LAUNCHERS = ("ipykernel_launcher.py", "ipykernel/__main__.py")


def _folder_of(namespace: dict) -> Path:
    file = namespace.get("__file__")
    return Path(file).resolve().parent if file else Path.cwd()


def script_folder() -> Path:
    """The folder of the script (or module) that calls this.

    Its ``__file__`` when it has one (``python script.py``, an import); else the working
    directory, which is the script's folder when Elyra's play button runs it in a kernel.
    """
    return _folder_of(sys._getframe(1).f_globals)


def script_arguments() -> list[str]:
    """The script's command-line options: none in a Jupyter kernel, whose argv is the kernel's own."""
    if sys.argv and sys.argv[0].replace("\\", "/").endswith(_KERNEL_LAUNCHERS):
        return []
    return sys.argv[1:]


def compile_pipeline(pipeline_func: Callable, yaml_path: Path) -> Path:
    """Compile to ``yaml_path``: the same YAML whether or not anything runs on this machine."""
    from kfp import compiler

    compiler.Compiler().compile(pipeline_func, str(yaml_path))
    print(f"Wrote {yaml_path}")
    return yaml_path


def parse_overrides(values: list[str], pipeline_func: Callable) -> dict:
    """``["version=3004259", "hyperparameters={...}"]`` → parameters, typed as the pipeline declares them.

    A text parameter stays text even when it looks like a number (a short git SHA can be
    ``3004259`` or ``1e51234``); other parameters are read as JSON.
    """
    inputs = (pipeline_func.component_spec.inputs or {}) if hasattr(pipeline_func, "component_spec") else None
    overrides = {}
    for value in values:
        name, separator, text = value.partition("=")
        if not separator:
            raise SystemExit(f"--set {value}: write it as NAME=VALUE.")
        if inputs is not None and name not in inputs:
            raise SystemExit(
                f"--set {name}: the pipeline has no parameter {name!r}; it has {', '.join(sorted(inputs))}."
            )
        if inputs is not None and inputs[name].type == "String":
            overrides[name] = text
            continue
        try:
            overrides[name] = json.loads(text)
        except json.JSONDecodeError:
            raise SystemExit(
                f"--set {name}={text}: give a JSON value for this {inputs[name].type} parameter."
            ) from None
    return overrides


def run_pipeline_script(
    pipeline_func: Callable,
    *,
    arguments: dict,
    yaml_path: str | Path,
    experiment_name: str,
    argv: list[str] | None = None,
    compile_by_default: bool = False,
) -> None:
    """Compile, submit or run ``pipeline_func`` with ``arguments``, as the command line asks.

    Args:
        pipeline_func: the ``@dsl.pipeline`` function.
        arguments: its parameters for a submitted or local run (the defaults fill the rest; a local
            run points the workshop's URLs among the defaults at this machine, see ``local_urls``).
        yaml_path: where ``--compile`` writes the YAML; a bare name goes next to the calling script.
        experiment_name: the experiment a submitted run goes to.
        argv: the options; by default the command line's (none when run by the play button).
        compile_by_default: the play button only writes the YAML (``--local`` still runs it).
    """
    yaml_path = _folder_of(sys._getframe(1).f_globals) / yaml_path
    parser = argparse.ArgumentParser(description=(pipeline_func.description or "").strip() or None)
    parser.add_argument("--compile", action="store_true", help=f"only write {yaml_path.name}")
    parser.add_argument("--local", action="store_true", help="run on this machine even in a cluster workbench")
    parser.add_argument("--verbose", action="store_true", help="a local run also shows the steps' full output")
    parser.add_argument("--outputs", type=Path, metavar="FILE", help="a local run writes its outputs to FILE as JSON")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline parameter (VALUE is read as JSON when it can be, else as text)",
    )
    options = parser.parse_args(script_arguments() if argv is None else argv)
    overrides = parse_overrides(options.set, pipeline_func)
    arguments = {**arguments, **overrides}
    if options.compile or (compile_by_default and not options.local):
        compile_pipeline(pipeline_func, yaml_path)
    elif cluster.in_workbench() and not options.local:
        cluster.submit(pipeline_func, arguments, experiment_name)
    else:
        try:
            finished = local_run.run(pipeline_func, arguments, verbose=options.verbose)
        except local_run.PipelineFailed as failure:
            raise SystemExit(str(failure)) from None
        if options.outputs:
            options.outputs.write_text(json.dumps(finished.outputs, indent=2))
