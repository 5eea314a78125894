"""Online prediction for jukebox: a model server and a transformer, on KServe's REST protocol.

Both speak the Open Inference Protocol v2 (``POST /v2/models/jukebox/infer``), the protocol of a
KServe ``InferenceService``, and run on the ``kserve`` Python server:

- ``predictor``: the ONNX model itself; it takes one FP32 input per feature, already scaled.
- ``transformer``: in front of it; it takes song ids, reads each song's features from the
  online feature store, scales them with the model version's scaler, asks the predictor, and
  adds the country codes to the answer. It also takes a song's raw properties (the Jukebox
  page's "what if" sliders) and scales them with the same scaler: the one place scaling happens.

The modules, one job each:

- ``served_model``: one version of the model (ONNX session, features, scaler, countries) and
  where versions come from (the MLflow registry in the local lab, a folder on the cluster);
- ``versions``: the versions kept in memory and the thread that follows the registry's alias;
- ``online_features``: reading a song's features, in process or from a Feast feature server;
- ``errors``: the errors a client gets (400, 404, 503), one sentence each;
- ``server``: kserve's server as both use it (its address, quiet logs, readiness, metadata).
"""
