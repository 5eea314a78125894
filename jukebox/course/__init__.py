"""The course as a participant lives it: its steps, what each one does, and how to tell it is done.

``steps`` lists the steps in order (chapter 3, scenario A, scenario B); ``participant`` does what a
participant does (edit, commit and push, press play, start a run); ``lab_state`` reads what the lab
holds for a participant (git, S3, runs, registry, feature store, the page), without changing it.
``make workshop`` runs every step (``jukebox.workshop``); ``python -m jukebox.lab progress`` checks
them; ``python -m jukebox.lab checkpoint STEP`` does the steps before ``STEP`` that are not done.
"""
