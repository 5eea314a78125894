"""The step that checks data against the data contract (``jukebox/data_contract.py``), before any write.

Chapter 3 runs it on the joined training data, chapters 5 and 7 on the song properties before they
go to S3. It refuses the dataset with one sentence naming each broken rule, how many rows break it
and an example row, e.g. ``tempo must be ≥ 0: 1 row breaks it (spotify_id 5aIV…)``.
"""

from kfp.dsl import Dataset, Input, component

from jukebox.pins import BASE_IMAGE, pinned


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "pandera"))
def validate_data(dataset: Input[Dataset], contract: dict):
    """Check ``dataset`` against ``contract``; fail with one sentence listing every broken rule.

    Args:
        dataset: the parquet to check.
        contract: one of the contracts of ``jukebox/data_contract.py`` (name, columns, unique, min_rows).
    """
    import pandas as pd
    import pandera.pandas as pa
    from pandas.api import types

    def number(value) -> str:
        return f"{value:g}" if isinstance(value, float | int) else str(value)

    def rows(count: int) -> str:
        return "1 row" if count == 1 else f"{count:,} rows"

    kinds = {  # a rule's type: the test of a column's dtype, and how to say it
        "text": (lambda s: types.is_string_dtype(s) or types.is_object_dtype(s), "text"),
        "integer": (lambda s: types.is_integer_dtype(s) and not types.is_bool_dtype(s), "whole numbers"),
        "number": (lambda s: types.is_numeric_dtype(s) and not types.is_bool_dtype(s), "numbers"),
        "boolean": (types.is_bool_dtype, "true/false values"),
        "datetime": (types.is_datetime64_any_dtype, "dates and times"),
    }
    name = contract["name"]
    data = pd.read_parquet(dataset.path)
    problems, columns = [], {}
    named = dataset.metadata.get("features") or []  # the features the source says the data has
    named = named.get("list", []) if isinstance(named, dict) else named  # a cluster may wrap lists
    problems += [f"{feature} is missing" for feature in sorted(set(named) - set(data.columns))]
    # In name order: a contract that travelled through the pipeline's JSON keeps no key order.
    for column, rule in sorted(contract["columns"].items()):
        if column not in data.columns:
            if rule.get("required", True):
                problems.append(f"{column} is missing")
            continue
        fits, said = kinds[rule["type"]]
        if data[column].notna().any() and not fits(data[column]):
            held = "text" if kinds["text"][0](data[column]) else f"{data[column].dtype} values"
            problems.append(f"{column} must hold {said}: it holds {held}")
            continue
        checks = []
        if "min" in rule:
            checks.append(pa.Check.ge(rule["min"], error=f"{column} must be ≥ {number(rule['min'])}"))
        if "max" in rule:
            checks.append(pa.Check.le(rule["max"], error=f"{column} must be ≤ {number(rule['max'])}"))
        if "values" in rule:
            allowed = ", ".join(number(value) for value in rule["values"])
            checks.append(pa.Check.isin(rule["values"], error=f"{column} must be one of {allowed}"))
        if "length" in rule:
            length = int(rule["length"])
            checks.append(pa.Check.str_length(length, length, error=f"{column} must be {length} characters long"))
        if "pattern" in rule:
            meaning = rule.get("meaning") or f"match {rule['pattern']}"
            checks.append(pa.Check.str_matches(rule["pattern"], error=f"{column} must be {meaning}"))
        columns[column] = pa.Column(checks=checks, nullable=False)
    unique = [column for column in contract.get("unique", []) if column in columns]
    schema = pa.DataFrameSchema(columns, unique=unique or None, strict=False)

    def example(index) -> str:
        if index is None or pd.isna(index) or "spotify_id" not in data.columns:
            return ""
        return f" (spotify_id {data.loc[index, 'spotify_id']})" if index in data.index else f" (row {index})"

    try:
        schema.validate(data, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            failing, first = group["index"].nunique(), group["index"].iloc[0]
            if check == "not_nullable" and failing == len(data):
                problems.append(f"{column} must have a value in every row: it is empty")
            elif check == "not_nullable":
                lacks = "lacks" if failing == 1 else "lack"
                problems.append(f"{column} must have a value in every row: {rows(failing)} {lacks} one{example(first)}")
            elif check in ("multiple_fields_uniqueness", "field_uniqueness"):
                together = " and ".join(unique)
                problems.append(f"{together} must be unique: {rows(failing)} share a value{example(first)}")
            else:
                problems.append(f"{check}: {rows(failing)} {'breaks' if failing == 1 else 'break'} it{example(first)}")
    minimum = int(contract.get("min_rows", 1))
    if len(data) < minimum:
        problems.append(f"the {name} need at least {rows(minimum)}: they have {len(data):,}")
    if problems:
        many = "a rule" if len(problems) == 1 else f"{len(problems)} rules"
        raise ValueError(f"The {name} break {many} of the data contract: " + "; ".join(problems) + ".")
    print(f"The {name} keep the data contract: {rows(len(data))}, {len(columns)} columns checked.")
