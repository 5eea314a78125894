"""The training pipeline's data source: one fetch step, run afresh every time.

Participants switch the source by commenting out one block and pasting another (chapters 5 and
7). ``always_fetch_afresh(fetch_task)`` comes after the blocks, so that no block has to carry the
settings of the fetch step:

- caching off: the data behind a URL, a DVC version or the feature store can change while the
  step's inputs stay the same, and a cached step would train on yesterday's data;
- one source: when two blocks are left active, the pipeline keeps the last one set
  (``fetch_task``), drops the others and says so in one sentence, so that the run neither
  fetches twice nor fails on a source it does not use.
"""

FETCH_STEP_PREFIX = "fetch-data"


def _fetch_tasks(pipeline) -> list:
    return [task for task in pipeline.tasks.values() if task.component_spec.name.startswith(FETCH_STEP_PREFIX)]


def always_fetch_afresh(fetch_task) -> None:
    """Turn caching off for ``fetch_task`` and keep it as the pipeline's only fetch step."""
    from kfp.dsl import pipeline_context

    fetch_task.set_caching_options(False)
    pipeline = pipeline_context.Pipeline.get_default_pipeline()
    others = [task for task in _fetch_tasks(pipeline) if task is not fetch_task] if pipeline else []
    for task in others:
        del pipeline.tasks[task.name]
        pipeline.remove_task_from_groups(task)
    if others:
        left_out = ", ".join(task.component_spec.name for task in others)
        print(
            f"Two data sources are active in {pipeline.name}: it trains on {fetch_task.component_spec.name}, "
            f"the last one set, and leaves out {left_out}; comment out the block you do not use."
        )
