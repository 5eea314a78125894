"""The Jukebox page: search a song in the participant's catalog and see where the served model says it will chart.

``python -m jukebox.serving.jukebox_ui --port 8000 --model_url http://127.0.0.1:8080`` serves the
page, the song search (``/api/songs``, from the participant's ``s3://data/song_properties.parquet``),
the "what if" sliders' controls and starting values (``/api/controls``, ``/api/song-properties``),
and the model's Open Inference Protocol v2 endpoints (``/v2/...``, proxied to ``--model_url``).
The world map's shapes (``static/world.json``) are made by ``build_world.py`` (``make world-map``).
"""
