"""The song catalog: the songs of the participant's ``s3://data/song_properties.parquet``, found by name, artist or id.

Upstream's page had its song list frozen into its image, so a song the data pipeline added later
could never be found by name. Here the catalog is the participant's *current* file: the page asks
S3 for the object's ETag at most every ``CHECK_EVERY`` seconds and reads the file again when it
changed. The file may keep a song's history (several rows, ``event_timestamp``): each song is
listed once, from its latest row.

The catalog also keeps each song's properties (the model's features, raw), so that the page's
"what if" mode can start from a song picked in search, or from the catalog's most typical song
(``median_song``: the one nearest the median of every property).

S3 is reached with the cluster secret's variables (``AWS_S3_ENDPOINT``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``); the local lab exports the same names. A
problem with S3 becomes a ``note`` the page shows, one sentence with no credential in it.
"""

import logging
import os
import threading
import time

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from jukebox.data_contract import FEATURES

BUCKET = "data"
KEY = "song_properties.parquet"
CHECK_EVERY = 2.0  # seconds between two looks at the object's ETag
MAX_SONGS = 20
COLUMNS = ["spotify_id", "name", "artists"]
NO_CATALOG = f"no song catalog in s3://{BUCKET} yet: run the data pipeline"

log = logging.getLogger(__name__)


def s3_client():
    """An S3 client from the environment: short time-outs, so that a search never hangs on a silent S3."""
    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("AWS_S3_ENDPOINT") or None,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(connect_timeout=3, read_timeout=20, retries={"max_attempts": 1}),
    )


def latest_songs(table: pd.DataFrame) -> pd.DataFrame:
    """One row per song (its latest, by ``event_timestamp`` where there is one): searchable text, properties."""
    if "event_timestamp" in table:
        table = table.sort_values("event_timestamp", kind="stable")
    latest = table.drop_duplicates("spotify_id", keep="last").dropna(subset=["spotify_id"]).reset_index(drop=True)
    songs = pd.DataFrame({column: latest.get(column, pd.Series(dtype=object)) for column in COLUMNS})
    songs = songs.fillna("").astype(str)
    songs["name_key"] = songs["name"].str.casefold()
    songs["artists_key"] = songs["artists"].str.casefold()
    for name in FEATURES:
        if name in latest:
            songs[name] = latest[name].astype(float)
    return songs


def median_song(songs: pd.DataFrame) -> int | None:
    """The row of the song nearest the catalog's median of every property (each measured in its spread)."""
    properties = songs[[name for name in FEATURES if name in songs]].dropna()
    if properties.empty or properties.shape[1] == 0:
        return None
    spread = properties.std().replace(0, 1).fillna(1)
    distance = (((properties - properties.median()) / spread) ** 2).sum(axis=1)
    return int(distance.idxmin())


def song_properties(songs: pd.DataFrame, row: int) -> dict:
    """A song of the catalog with its raw properties: ``{"song": {id, name, artists}, "properties": {…}}``."""
    song = songs.loc[row]
    properties = {name: float(song[name]) for name in FEATURES if name in songs and pd.notna(song[name])}
    return {"song": {column: song[column] for column in COLUMNS}, "properties": properties}


def find(songs: pd.DataFrame, text: str, limit: int = MAX_SONGS) -> list[dict[str, str]]:
    """Songs whose id is ``text`` (first), then whose name starts with it, then whose name or artists contain it."""
    text = text.strip()
    if not text or songs.empty:
        return []
    key = text.casefold()
    exact = songs["spotify_id"] == text
    starts = songs["name_key"].str.startswith(key)
    contains = songs["name_key"].str.contains(key, regex=False) | songs["artists_key"].str.contains(key, regex=False)
    ranked = pd.concat([songs[exact], songs[starts & ~exact], songs[contains & ~starts & ~exact]])
    return ranked[COLUMNS].head(limit).to_dict("records")


class Catalog:
    """The songs of ``s3://<bucket>/<key>``, read again when the object's ETag changes."""

    def __init__(self, s3=None, bucket: str = BUCKET, key: str = KEY, check_every: float = CHECK_EVERY):
        self.s3, self.bucket, self.key, self.check_every = s3 or s3_client(), bucket, key, check_every
        self.endpoint = self.s3.meta.endpoint_url
        self._lock = threading.Lock()
        self._songs = latest_songs(pd.DataFrame(columns=COLUMNS))
        self._etag: str | None = None  # the ETag of the object last read
        self._file_note: str | None = None  # why that object cannot serve as a catalog, if it cannot
        self._note: str | None = None
        self._checked = float("-inf")

    def search(self, text: str) -> dict:
        """``{"songs": [...]}`` for ``text``, with a ``note`` when the catalog is missing or unreadable."""
        songs, note = self.current()
        answer = {"songs": find(songs, text)}
        if note:
            answer["note"] = note
        return answer

    def properties(self, song_id: str | None) -> dict | None:
        """A song's raw properties (``song_properties``), or the catalog's median song's when ``song_id`` is None.

        None when the song is not in the catalog (or the catalog has no song).
        """
        songs, _ = self.current()
        if song_id is None:
            row = median_song(songs)
            return None if row is None else {**song_properties(songs, row), "median": True}
        rows = songs.index[songs["spotify_id"] == song_id]
        return song_properties(songs, int(rows[0])) if len(rows) else None

    def current(self) -> tuple[pd.DataFrame, str | None]:
        """The catalog now (looked at again if the last look is older than ``check_every``) and its note."""
        with self._lock:
            if time.monotonic() - self._checked >= self.check_every:
                self._refresh()
                self._checked = time.monotonic()
            return self._songs, self._note

    def _refresh(self) -> None:
        try:
            etag = self.s3.head_object(Bucket=self.bucket, Key=self.key)["ETag"]
            if etag != self._etag:
                self._file_note = self._load()
            self._set_note(self._file_note)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchBucket", "NoSuchKey", "404"):
                self._songs, self._etag, self._file_note = latest_songs(pd.DataFrame(columns=COLUMNS)), None, None
                self._set_note(NO_CATALOG)
            elif code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
                self._set_note(
                    f"S3 at {self.endpoint} refused the page's credentials: check AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (the secret aws-connection-data)"
                )
            else:
                self._set_note(f"S3 at {self.endpoint} could not give s3://{self.bucket}/{self.key} ({code})")
        except NoCredentialsError:
            self._set_note("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        except BotoCoreError as error:
            self._set_note(f"S3 at {self.endpoint} is not answering ({type(error).__name__})")

    def _load(self) -> str | None:
        """Read the object; None when it became the catalog, else why not (the last good catalog stays)."""
        answer = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        self._etag = answer["ETag"]  # a bad file is not read again until it changes
        data = pa.BufferReader(answer["Body"].read())  # not io.BytesIO: pyarrow then aborted at exit here, now and then
        where = f"s3://{self.bucket}/{self.key}"
        try:
            names = pq.read_schema(data).names
            wanted = [column for column in [*COLUMNS, *FEATURES, "event_timestamp"] if column in names]
            table = pq.read_table(data, columns=wanted).to_pandas()
        except (OSError, ValueError) as error:  # pyarrow's errors for a file that is not a parquet file
            return f"{where} is not a readable parquet file ({type(error).__name__})"
        if "spotify_id" not in table:
            return f"{where} has no spotify_id column"
        self._songs = latest_songs(table)
        log.info("Song catalog: %s songs from %s.", f"{len(self._songs):,}", where)
        return None

    def _set_note(self, note: str | None) -> None:
        if note != self._note and note:
            log.warning("Song catalog: %s.", note)
        self._note = note
