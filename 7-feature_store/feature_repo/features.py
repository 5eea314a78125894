"""The features of a song: what the model learns from, as the feature store knows them.

Feast reads this file when you run `feast apply` in this folder. It declares:
- the entity `music`: a song, identified by its `spotify_id`;
- the data source: the song properties parquet in your S3 bucket `data`;
- the feature view `song_properties`: the 13 properties of a song, with their types.
"""

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float32, Int64, String

music = Entity(
    name="music",
    join_keys=["spotify_id"],
    value_type=ValueType.STRING,
    description="A song, identified by its Spotify id.",
)

# No S3 endpoint here: whoever reads the file (a notebook, a pipeline step, the UI) takes it from
# their own environment (AWS_ENDPOINT_URL_S3), so the registry keeps nobody's endpoint.
song_properties_source = FileSource(
    name="song_properties_source",
    path="s3://data/song_properties.parquet",
    timestamp_field="event_timestamp",
)

song_properties = FeatureView(
    name="song_properties",
    entities=[music],
    schema=[
        Field(name="spotify_id", dtype=String),
        Field(name="is_explicit", dtype=Bool),
        Field(name="duration_ms", dtype=Int64),
        Field(name="danceability", dtype=Float32),
        Field(name="energy", dtype=Float32),
        Field(name="key", dtype=Int64),
        Field(name="loudness", dtype=Float32),
        Field(name="mode", dtype=Int64),
        Field(name="speechiness", dtype=Float32),
        Field(name="acousticness", dtype=Float32),
        Field(name="instrumentalness", dtype=Float32),
        Field(name="liveness", dtype=Float32),
        Field(name="valence", dtype=Float32),
        Field(name="tempo", dtype=Float32),
    ],
    source=song_properties_source,
    online=True,
)
