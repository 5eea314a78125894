"""A song's features from the online feature store, as the transformer reads them.

Two readers, with the same methods (``service_views``, ``read``, ``close``):

- ``StoreReader``: the participant's feature store opened in this process with
  ``jukebox.feature_store.open_store()`` (the local lab: its SQLite online store, under a
  millisecond a read);
- ``FeatureServerReader``: a Feast feature server (``feast serve``; on the cluster, the one of the
  participant's namespace), with ``POST /get-online-features``.

Which features: exactly those the served model version was trained on, asked for as
``<view>:<feature>``, the view being the one the feature service (``serving_fs``) reads; not the
service's current list. After ``feast apply`` of a service without ``loudness``, and until the
model trained on 12 features is deployed, the served model still needs 13: it still gets them,
from the view, which keeps them. (The workshop's transformer asked for the service's list and
answered 500 in that window.)

Song ids are checked here, where they enter the store, before any read: a Spotify id is 22 letters
and digits (base62), and a request holds at most ``MOST_SONGS``. A malformed id gets a 400; a
well-formed id the store does not have gets a 404 that names it. Every caller (the web page, a
notebook, curl) goes through the transformer, so this check is the one that counts; a page may
check ids too, to answer faster.
"""

import re
import ssl
from pathlib import Path

import aiohttp
import httpx
import orjson

from jukebox.serving.errors import BadRequest, NotFound, Unavailable

SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
MOST_SONGS = 1000
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def check_song_ids(ids: list) -> list[str]:
    """The ids if each is a Spotify id, else a 400 naming the first one that is not."""
    if not ids:
        raise BadRequest("The request has no song id: give one or more Spotify ids in the input 'input'.")
    if len(ids) > MOST_SONGS:
        raise BadRequest(f"The request has {len(ids)} song ids: at most {MOST_SONGS} in one request.")
    for song in ids:
        if not (isinstance(song, str) and SPOTIFY_ID.fullmatch(song)):
            shown = repr(song) if len(repr(song)) <= 40 else repr(song)[:37] + "..."
            raise BadRequest(f"{shown} is not a Spotify song id (22 letters and digits).")
    return ids


def feature_refs(features: list[str], service_views: dict[str, str]) -> list[str]:
    """``<view>:<feature>`` for each feature the model was trained on.

    Args:
        features: the model version's features.
        service_views: the feature view of each feature the service serves now. A feature the
            service no longer serves is read from the service's view, when it reads one view.
    """
    views = set(service_views.values())
    refs = []
    for feature in features:
        view = service_views.get(feature) or (next(iter(views)) if len(views) == 1 else None)
        if view is None:
            raise ValueError(f"the feature service does not say which feature view holds {feature}")
        refs.append(f"{view}:{feature}")
    return refs


def check_complete(ids: list[str], values: dict[str, list], features: list[str], where: str) -> None:
    """A 404 naming the songs the store has no (or not every) value for; nothing when all are there.

    Args:
        ids: the songs asked for.
        values: each feature's values, one per song, ``None`` where the store has none.
        features: the features the model needs.
        where: which store, for the message (``project music``).
    """
    unknown = [song for row, song in enumerate(ids) if all(values[name][row] is None for name in features)]
    if unknown:
        songs = f"song {unknown[0]}" if len(unknown) == 1 else f"songs {', '.join(unknown)}"
        them = "it" if len(unknown) == 1 else "them"
        raise NotFound(f"No {songs} in the feature store ({where}): run the data pipeline that materializes {them}.")
    for row, song in enumerate(ids):
        lacking = [name for name in features if values[name][row] is None]
        if lacking:
            raise NotFound(
                f"Song {song} has no {', '.join(lacking)} in the feature store ({where}): "
                "run the data pipeline that materializes it."
            )


class StoreReader:
    """The participant's online store, opened in this process (the configuration comes from the environment).

    Args:
        feature_service: the feature service that names the view (``serving_fs``).
        entity: the entity's join key (``spotify_id``).
    """

    def __init__(self, feature_service: str, entity: str):
        from jukebox.feature_store import open_store

        self.feature_service, self.entity = feature_service, entity
        self.store = open_store()
        self.where = f"project {self.store.project}"

    def service_views(self) -> dict[str, str]:
        """The feature view of each feature the service serves, from the registry as it is now."""
        service = self.store.get_feature_service(self.feature_service, allow_cache=False)
        return {field.name: view.name_to_use() for view in service.feature_view_projections for field in view.features}

    async def read(self, ids: list[str], refs: list[str]) -> dict[str, list]:
        """Each feature's values for the songs, ``None`` where the store has none.

        A read of the lab's SQLite store takes well under a millisecond: it runs in the event loop,
        as handing it to a thread would cost more than it takes.
        """
        rows = [{self.entity: song} for song in ids]
        keep_feasts_timestamp_converter()
        return self.store.get_online_features(features=refs, entity_rows=rows).to_dict()

    async def close(self) -> None:
        pass


def keep_feasts_timestamp_converter() -> None:
    """Give ``timestamp`` columns back the SQLite converter Feast's online store reads them with.

    Converters are global to the ``sqlite3`` module: importing IPython (kserve's and mlflow's
    imports can pull it in) replaces Feast's with one for ISO dates, and every read of the lab's
    online store then fails on Feast's epoch timestamps. Setting it again costs a dictionary write.
    """
    import sqlite3

    from feast.infra.online_stores import sqlite as feast_sqlite

    sqlite3.register_converter("timestamp", feast_sqlite.convert_timestamp)


class FeatureServerReader:
    """A Feast feature server (``POST <url>/get-online-features``), over kept-alive connections.

    Args:
        url: the feature server's address.
        feature_service: the feature service that names the view (``serving_fs``).
        entity: the entity's join key (``spotify_id``).
        timeout: seconds a read may take.
    """

    def __init__(self, url: str, feature_service: str, entity: str, timeout: float = 5.0):
        self.url = url.rstrip("/") + "/get-online-features"
        self.feature_service, self.entity, self.timeout = feature_service, entity, timeout
        self.where = f"feature server {url}"
        ca = SERVICE_ACCOUNT / "service-ca.crt"  # the cluster's services' certificates, in a pod
        self.tls = ssl.create_default_context(cafile=str(ca)) if ca.is_file() else ssl.create_default_context()
        self.session: aiohttp.ClientSession | None = None

    def headers(self) -> dict[str, str]:
        """The pod's service-account token, when there is one: a feature server with Kubernetes auth asks for it."""
        token = SERVICE_ACCOUNT / "token"
        return {"Authorization": f"Bearer {token.read_text().strip()}"} if token.is_file() else {}

    def service_views(self) -> dict[str, str]:
        """The feature view of each feature the service serves: its full names are ``<view>__<feature>``."""
        body = {"feature_service": self.feature_service, "entities": {self.entity: ["0" * 22]}}
        answer = httpx.post(
            self.url,
            json={**body, "full_feature_names": True},
            headers=self.headers(),
            timeout=self.timeout,
            verify=self.tls,
        )
        answer.raise_for_status()
        names = [name.split("__", 1) for name in answer.json()["metadata"]["feature_names"] if "__" in name]
        return {feature: view for view, feature in names}

    async def read(self, ids: list[str], refs: list[str]) -> dict[str, list]:
        """Each feature's values for the songs, ``None`` where the store has none."""
        if self.session is None:  # created in the server's event loop, on the first request
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        body = {"features": refs, "entities": {self.entity: ids}}
        try:
            async with self.session.post(self.url, json=body, headers=self.headers(), ssl=self.tls) as answer:
                status, content = answer.status, await answer.read()
        except TimeoutError as error:
            raise Unavailable(f"The {self.where} did not answer in {self.timeout} s.") from error
        except aiohttp.ClientError as error:
            raise Unavailable(f"The {self.where} does not answer: is it running?") from error
        if status != 200:
            said = content.decode(errors="replace").strip().splitlines()[0][:200] if content.strip() else "no detail"
            raise Unavailable(f"The {self.where} answered {status}: {said}")
        result = orjson.loads(content)
        return {
            name: column["values"]
            for name, column in zip(result["metadata"]["feature_names"], result["results"], strict=True)
        }

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
