"""``@ships(helper, …)``: a pipeline step carries the shared helpers it calls in its own code.

KFP ships a lightweight component's function, and nothing else, to the step's pod: a step cannot
import the kit there. kfp 2.9.0, which the workshop's CT task installs to compile the training
pipeline, has no ``additional_funcs`` either. So the code that several steps run (downloading a
parquet with its checks, the S3 client, opening the feature store: ``step_helpers.py``) is written
once, and ``ships`` copies it into each step that names it, at the top of the step's body, right
after its docstring. The compiled YAML shows the helpers there, and a local run executes that text::

    @component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "requests"))
    @ships(download_parquet)
    def extract_data(dataset_url: str, dataset: Output[Dataset]):
        songs, md5 = download_parquet(dataset_url, "song properties", [])

``@ships`` goes under ``@component`` (it runs first). The step's module imports the helpers, so
that linters and editors see where a name comes from.
"""

import ast
import inspect
import linecache
import textwrap


def ships(*helpers):
    """Copy ``helpers``' source into the decorated step's body, for KFP to ship to its pod.

    Args:
        helpers: functions of ``jukebox/components/step_helpers.py`` the step calls, each listed
            after the helpers it calls itself.
    """

    def copy_into(step):
        lines = textwrap.dedent(inspect.getsource(step)).splitlines()
        (function,) = ast.parse("\n".join(lines)).body
        first = function.body[0]
        has_docstring = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
        body_starts = first.end_lineno if has_docstring else first.lineno - 1
        indent = " " * first.col_offset
        copied = "\n".join(textwrap.indent(textwrap.dedent(inspect.getsource(h)), indent) for h in helpers)
        text = "\n".join(
            [*lines[function.lineno - 1 : body_starts], "", *copied.splitlines(), "", *lines[body_starts:]]
        )
        # KFP reads the step's source with inspect.getsource: the text is registered as a file of its own.
        filename = f"<{step.__module__}.{step.__name__}, shipped with {', '.join(h.__name__ for h in helpers)}>"
        linecache.cache[filename] = (len(text), None, [line + "\n" for line in text.splitlines()], filename)
        namespace = step.__globals__
        original = namespace.get(step.__name__)
        exec(compile(text, filename, "exec"), namespace)  # noqa: S102 - the kit's own source, recompiled
        shipped = namespace.pop(step.__name__)
        if original is not None:
            namespace[step.__name__] = original
        return shipped

    return copy_into
