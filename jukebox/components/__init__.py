"""Components shared by chapters: each defined once, imported by every pipeline that uses it.

- ``song_etl``: extract the song properties from a URL, transform (check, lower-case columns), load to S3.
- ``dvc_versioning``: version an S3 object with DVC in the participant's git repo and push.
"""
