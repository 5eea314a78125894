"""Components shared by chapters: each defined once, imported by every pipeline that uses it.

- ``song_etl``: extract the song properties from a URL, transform (check, lower-case columns), load to S3.
- ``dvc_versioning``: version an S3 object with DVC in the participant's git repo and push.
- ``song_history``, ``materialization``, ``validation``: chapter 7's history, its materialization,
  the data contract's check.
- ``step_helpers``: code several steps run (a parquet download with its checks, the S3 client,
  opening the feature store), written once; ``ships`` copies it into each step that calls it.
"""
