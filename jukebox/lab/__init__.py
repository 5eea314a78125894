"""The local lab: the cluster's services, real, on one offline machine.

S3 (SeaweedFS), git over HTTP with a push-triggered continuous-training (CT) runner, a GitOps
config repo, a model registry (MLflow), a raw-data endpoint and a scheduler, all on 127.0.0.1,
with their state in one folder. Driven by ``python -m jukebox.lab`` (see ``cli.py``).
"""
