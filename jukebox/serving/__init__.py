"""Serving: the model server, its feature store transformer and the Jukebox page."""
