"""Benchmark: what importing Feast costs a process, and how much of that is typeguard's.

    python benchmarks/feast_import.py [--runs 5]

Feast decorates its classes with typeguard's ``@typechecked``. typeguard 4 instruments every method
of such a class when the class is defined, parsing and compiling the method's whole module again
for each method (agronholm/typeguard#468). Every process of the kit that imports Feast pays for it:
``feast apply`` and ``feast materialize``, the transformer, the pipelines' Feast steps, notebook
kernels, ``progress``; about 70 such processes in one run of ``make test``.

It prints, with the versions of Feast and typeguard:
- the CPU time (user + system) of ``python -c "import feast"``, each in a new process: every run's
  and their median;
- one more such import under cProfile: how many functions typeguard instrumented, the seconds spent
  in its ``instrument`` and their share of the profiled import.
No lab is needed and nothing is written; the figures do not depend on a seed.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
from importlib.metadata import version

IMPORT = "import feast"

# The same import under cProfile; prints typeguard's part as JSON.
PROFILED_IMPORT = """
import cProfile, json, pstats
profile = cProfile.Profile()
profile.enable()
import feast
profile.disable()
stats = pstats.Stats(profile)
instrumented = [
    (calls, cumulative)
    for (file, _, name), (calls, _, _, cumulative, _) in stats.stats.items()
    if name == "instrument" and file.endswith("typeguard/_decorators.py")
]
calls, seconds = instrumented[0] if instrumented else (0, 0.0)
print(json.dumps({"functions": calls, "seconds": seconds, "total": stats.total_tt}))
"""


def cpu_seconds_of(code: str) -> tuple[float, str]:
    """The CPU time (user + system) of ``python -c code`` in a new process, and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="imports timed, each in a new process")
    runs = parser.parse_args().runs

    print(f"feast {version('feast')}, typeguard {version('typeguard')}, Python {sys.version.split()[0]}")
    seconds = []
    for run in range(1, runs + 1):
        seconds.append(cpu_seconds_of(IMPORT)[0])
        print(f"  import {run} of {runs}: {seconds[-1]:.2f} s of CPU")
    print(f"import feast: {statistics.median(seconds):.2f} s of CPU (median of {runs})")

    _, printed = cpu_seconds_of(PROFILED_IMPORT)
    typeguard = json.loads(printed.splitlines()[-1])
    share = typeguard["seconds"] / typeguard["total"] if typeguard["total"] else 0.0
    print(
        f"typeguard instrumented {typeguard['functions']} functions: {typeguard['seconds']:.2f} s "
        f"of {typeguard['total']:.2f} s under cProfile ({share:.0%} of the import)"
    )


if __name__ == "__main__":
    main()
