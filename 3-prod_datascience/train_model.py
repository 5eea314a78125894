"""Step 4: train the model and convert it to ONNX.

The model is a dense neural network (scikit-learn's multi-layer perceptron) that reads a song's
scaled audio features and gives, for every country, the probability that the song charts there.
Its hyperparameters come from ``default_parameters.json``; a fixed seed makes runs reproducible.
The model server reads ONNX, so the trained model is converted: the ONNX model takes one named
input per feature, and the file carries the ordered feature names and the country labels it was
trained with.
"""

import kit_package  # noqa: F401 (the kit's package, found beside this folder)
from kfp.dsl import Dataset, Input, Model, Output, component

from jukebox.pins import BASE_IMAGE, pinned


@component(base_image=BASE_IMAGE, packages_to_install=pinned("pandas", "pyarrow", "scikit-learn"))
def train_model(
    train_data: Input[Dataset],
    val_data: Input[Dataset],
    hyperparameters: dict,
    model: Output[Model],
):
    """Train a multi-layer perceptron on the training set; report its validation accuracy.

    Args:
        train_data: the scaled training rows with their ``label``.
        val_data: the scaled validation rows.
        hyperparameters: hidden_layer_sizes, max_iter, random_state (default_parameters.json).
        model: the trained scikit-learn model (pickle).
    """
    import pickle

    import pandas as pd
    from sklearn.neural_network import MLPClassifier

    features = train_data.metadata["features"]
    train = pd.read_parquet(train_data.path)
    val = pd.read_parquet(val_data.path)

    def whole_numbers_as_int(value):
        # Pipeline parameters travel as JSON numbers: 200 arrives as 200.0.
        if isinstance(value, list):
            return tuple(whole_numbers_as_int(item) for item in value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    settings = {
        "random_state": 42,
        **{key: whole_numbers_as_int(value) for key, value in hyperparameters.items()},
    }
    print(f"Training an MLP on {len(train):,} rows with {settings}")
    classifier = MLPClassifier(**settings).fit(train[features].to_numpy(), train["label"].to_numpy())
    val_accuracy = float(classifier.score(val[features].to_numpy(), val["label"].to_numpy()))
    print(f"Stopped after {classifier.n_iter_} epochs; validation accuracy {val_accuracy:.4f}")
    with open(model.path, "wb") as file:
        pickle.dump(classifier, file)
    model.metadata.update({"features": features, "val_accuracy": val_accuracy, "epochs": classifier.n_iter_})


@component(
    base_image=BASE_IMAGE,
    packages_to_install=pinned("scikit-learn", "skl2onnx", "onnx"),
)
def convert_to_onnx(model: Input[Model], label_encoder: Input[Model], onnx_model: Output[Model]):
    """Convert the trained model to ONNX: one named input per feature, the countries in its metadata.

    The model server then takes a song as named values (``danceability``, ``energy``, …), so the
    feature service the model was trained through decides the model's input signature.
    skl2onnx converts the network with one matrix input; a small front graph concatenates the
    named inputs (FP32, shape [N, 1] each, in the training's feature order) into that matrix.
    The first output is ``probabilities`` (FP32 [N, countries]), then ``label`` (their argmax):
    the workshop's transformer and UI read the first output as the probabilities. skl2onnx maps the
    label through ``ai.onnx.ml.ArrayFeatureExtractor``, which OpenVINO (the workshop's model
    server) cannot load, so the label is the plain ``ArgMax`` here: the network's classes are the
    label encoder's 0..N-1.

    Args:
        model: the trained scikit-learn model.
        label_encoder: the countries, in the order of the model's outputs.
        onnx_model: the ONNX model.
    """
    import json
    import pickle

    import onnx
    import onnx.utils
    from onnx import TensorProto, compose, helper
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    features = model.metadata["features"]
    with open(model.path, "rb") as file:
        classifier = pickle.load(file)
    with open(label_encoder.path, "rb") as file:
        countries = [str(country) for country in pickle.load(file).classes_]
    if [int(label) for label in classifier.classes_] != list(range(len(countries))):
        raise RuntimeError(
            f"The model learned {len(classifier.classes_)} of the {len(countries)} countries: "
            "every country needs rows in the training split."
        )
    converted_network = to_onnx(
        classifier,
        initial_types=[("input", FloatTensorType([None, len(features)]))],
        options={id(classifier): {"zipmap": False}},
        target_opset=17,
    )
    network = onnx.utils.Extractor(converted_network).extract_model(["input"], ["probabilities"])
    network.graph.node.append(helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0))
    network.graph.output.append(helper.make_tensor_value_info("label", TensorProto.INT64, [None]))
    front = helper.make_model(
        helper.make_graph(
            [helper.make_node("Concat", features, ["input"], axis=1)],
            "named_features",
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 1]) for name in features],
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(features)])],
        ),
        opset_imports=network.opset_import,
        ir_version=network.ir_version,
    )
    converted = compose.merge_models(front, network, io_map=[("input", "input")])
    onnx.helper.set_model_props(converted, {"features": json.dumps(features), "classes": json.dumps(countries)})
    onnx.checker.check_model(converted)
    onnx.save(converted, onnx_model.path)
    onnx_model.metadata.update({"features": features, "classes": countries, "format": "onnx"})
    print(
        f"Converted to ONNX: {len(features)} named inputs ({', '.join(features)}), FP32 [N, 1] each "
        f"-> probabilities for {len(countries)} countries."
    )
