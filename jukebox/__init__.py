"""jukebox: the shared code of the MLOps course kit.

Chapter folders (``3-prod_datascience/`` …) hold what participants open; what two chapters
share lives here: the pins, the song-rankings generator, and the helper that compiles a
pipeline, submits it to a cluster or runs it on this machine.
"""
