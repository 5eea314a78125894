"""Step 3: turn the dataset into model inputs.

Split the rows into train, validation and test sets (stratified by country, fixed seed), fit a
scaler on the training features and a label encoder on the countries. The feature list comes
import kit_package  # noqa: F401 (the kit's package, found beside this folder)
from the dataset's metadata when the source gives one (a Feast feature service does, in chapter
7), so that training always uses the features the data was fetched for.
"""

from kfp.dsl import Dataset, Input, Model, Output, component

from jukebox.pins import BASE_IMAGE, pinned


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "scikit-learn"))
def preprocess_data(
    dataset: Input[Dataset],
    train_data: Output[Dataset],
    val_data: Output[Dataset],
    test_data: Output[Dataset],
    scaler: Output[Model],
    label_encoder: Output[Model],
    default_features: list,
    seed: int = 42,
):
    """Split 70/15/15, scale the features, encode the countries; every output records the features.

    Args:
        dataset: the validated training data; its metadata may name the features to use.
        train_data: 70 % of the rows, scaled, with a ``label`` column.
        val_data: 15 %, the same way.
        test_data: 15 %, the same way.
        scaler: the StandardScaler fitted on the training rows (pickle).
        label_encoder: the LabelEncoder of the countries (pickle).
        default_features: the features when the dataset's metadata names none.
        seed: the seed of the splits.
    """
    import pickle

    import pandas as pd
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder, StandardScaler

    named = dataset.metadata.get("features") or default_features
    # The cluster's metadata store may hand a list back wrapped as {"list": [...]}.
    features = list(named["list"] if isinstance(named, dict) else named)
    data = pd.read_parquet(dataset.path)
    print(f"Preprocessing {len(data):,} rows with {len(features)} features: {', '.join(features)}")

    encoder = LabelEncoder().fit(data["country"])
    labels = encoder.transform(data["country"])
    stratify = labels if pd.Series(labels).value_counts().min() >= 7 else None
    train, rest = train_test_split(data, test_size=0.3, random_state=seed, stratify=stratify)
    rest_stratify = encoder.transform(rest["country"]) if stratify is not None else None
    val, test = train_test_split(rest, test_size=0.5, random_state=seed, stratify=rest_stratify)

    feature_scaler = StandardScaler().fit(train[features].astype(float))
    for frame, output in ((train, train_data), (val, val_data), (test, test_data)):
        scaled = pd.DataFrame(feature_scaler.transform(frame[features].astype(float)), columns=features)
        scaled["label"] = encoder.transform(frame["country"])
        scaled.to_parquet(output.path, index=False)
        output.metadata.update({"features": features, "rows": len(frame)})
    with open(scaler.path, "wb") as file:
        pickle.dump(feature_scaler, file)
    with open(label_encoder.path, "wb") as file:
        pickle.dump(encoder, file)
    scaler.metadata["features"] = features
    label_encoder.metadata["classes"] = [str(country) for country in encoder.classes_]
    print(
        f"Train {len(train):,} / validation {len(val):,} / test {len(test):,} rows, {len(encoder.classes_)} countries."
    )
