"""Step 2: check the data before anything is trained on it.

A schema (pandera) states what a good dataset looks like: the columns, their types, the ranges
of the audio features, no missing values, enough rows. A dataset that breaks it stops the run
with a report of every broken rule, so nothing is trained or registered on bad data.
"""

from kfp.dsl import Dataset, Input, component

from jukebox.pins import BASE_IMAGE, pinned


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "pandera"))
def validate_data(dataset: Input[Dataset], min_rows: int = 1000):
    """Validate the joined dataset against the schema; fail with a readable report."""
    import pandas as pd
    import pandera.pandas as pa

    unit = [pa.Check.in_range(0.0, 1.0)]
    schema = pa.DataFrameSchema(
        {
            "spotify_id": pa.Column(str, pa.Check.str_length(22, 22)),
            "country": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{2}$")),
            "is_explicit": pa.Column(bool),
            "duration_ms": pa.Column(int, pa.Check.in_range(0, 3_600_000)),
            "danceability": pa.Column(float, unit),
            "energy": pa.Column(float, unit),
            "key": pa.Column(int, pa.Check.in_range(-1, 11)),
            "loudness": pa.Column(float, pa.Check.in_range(-60.0, 5.0)),
            "mode": pa.Column(int, pa.Check.isin([0, 1])),
            "speechiness": pa.Column(float, unit),
            "acousticness": pa.Column(float, unit),
            "instrumentalness": pa.Column(float, unit),
            "liveness": pa.Column(float, unit),
            "valence": pa.Column(float, unit),
            "tempo": pa.Column(float, pa.Check.in_range(0.0, 300.0)),
        },
        checks=pa.Check(lambda frame: len(frame) >= min_rows, error=f"at least {min_rows} rows"),
        strict=False,
        coerce=False,
    )
    data = pd.read_parquet(dataset.path)
    try:
        schema.validate(data, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        problems = []
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            examples = ", ".join(str(value) for value in group["failure_case"].head(3))
            where = column if isinstance(column, str) else "dataset"
            problems.append(f"{where}: {check} ({len(group)} failing, e.g. {examples})")
        print("Data validation report:\n  " + "\n  ".join(problems))
        raise ValueError(f"The dataset fails {len(problems)} data checks: " + "; ".join(problems) + ".") from None
    print(f"Data validation passed: {len(data):,} rows, {len(schema.columns)} columns checked.")
