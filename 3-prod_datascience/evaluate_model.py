"""Step 5: check the ONNX model and measure how good it is.

``validate_onnx_model`` runs the ONNX file in ONNX Runtime (what the model server runs), checks
that it takes one named input per feature and gives the same probabilities as the trained model
on the test set.
``evaluate_model`` measures accuracy on the test set and logs it, with a confusion matrix of
countries, as pipeline metrics that the pipeline UI shows.
"""

import kit_package  # noqa: F401 (the kit's package, found beside this folder)
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output, component

from jukebox.pins import BASE_IMAGE, pinned


@component(
    base_image=BASE_IMAGE,
    packages_to_install=pinned("pandas", "pyarrow", "scikit-learn", "onnxruntime"),
)
def validate_onnx_model(
    model: Input[Model], onnx_model: Input[Model], test_data: Input[Dataset], tolerance: float = 1e-5
):
    """Fail unless ONNX Runtime and the trained model agree on every test-set probability.

    Args:
        model: the trained scikit-learn model.
        onnx_model: its ONNX conversion.
        test_data: the scaled test rows.
        tolerance: the largest difference allowed between two probabilities.
    """
    import json
    import pickle

    import numpy as np
    import onnxruntime as ort
    import pandas as pd

    with open(model.path, "rb") as file:
        classifier = pickle.load(file)
    session = ort.InferenceSession(onnx_model.path, providers=["CPUExecutionProvider"])
    properties = session.get_modelmeta().custom_metadata_map
    features = json.loads(properties["features"])
    if features != model.metadata["features"]:
        raise ValueError(
            f"The ONNX model expects features {features}, but the model was trained on {model.metadata['features']}."
        )
    inputs_named = [item.name for item in session.get_inputs()]
    if inputs_named != features:
        raise ValueError(f"The ONNX model's inputs are {inputs_named}, not one per feature {features}.")
    test = pd.read_parquet(test_data.path)
    inputs = test[features].to_numpy(dtype=np.float32)
    named_inputs = {name: inputs[:, [column]] for column, name in enumerate(features)}  # one [N, 1] input each
    onnx_probabilities = session.run(["probabilities"], named_inputs)[0]
    expected = classifier.predict_proba(inputs.astype(np.float64))
    difference = float(np.max(np.abs(onnx_probabilities - expected)))
    if difference > tolerance:
        raise ValueError(
            f"ONNX Runtime and the trained model disagree by {difference:.2e} "
            f"(more than {tolerance:.0e}) on the test set."
        )
    print(f"ONNX model validated on {len(test):,} test rows: largest difference {difference:.2e} <= {tolerance:.0e}.")


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "scikit-learn"))
def evaluate_model(
    model: Input[Model],
    label_encoder: Input[Model],
    test_data: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
):
    """Log test accuracy, the majority-class baseline and a confusion matrix of countries.

    Args:
        model: the trained scikit-learn model.
        label_encoder: the countries.
        test_data: the scaled test rows.
        metrics: accuracy and baseline, for the run's metrics tab and the registry.
        classification_metrics: the confusion matrix of countries.
    """
    import pickle

    import pandas as pd
    from sklearn.metrics import confusion_matrix

    with open(model.path, "rb") as file:
        classifier = pickle.load(file)
    with open(label_encoder.path, "rb") as file:
        countries = [str(country) for country in pickle.load(file).classes_]
    features = model.metadata["features"]
    test = pd.read_parquet(test_data.path)
    predicted = classifier.predict(test[features].to_numpy())
    accuracy = float((predicted == test["label"].to_numpy()).mean())
    baseline = float(test["label"].value_counts(normalize=True).iloc[0])
    metrics.log_metric("accuracy", round(accuracy, 6))
    metrics.log_metric("majority_baseline", round(baseline, 6))
    metrics.log_metric("test_rows", len(test))
    matrix = confusion_matrix(test["label"], predicted, labels=list(range(len(countries))))
    classification_metrics.log_confusion_matrix(countries, matrix.tolist())
    print(f"Test accuracy {accuracy:.4f} (majority-class baseline {baseline:.4f}) on {len(test):,} rows.")
