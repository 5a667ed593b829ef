"""A version's rendered greedy episode: served as the gate verified it, with its own
content type, next to the curve on the page; a version without one answers 404, and one
whose GIF changed on disk after publishing is refused whole. In-process."""

import pytest

from policy_artifacts.manifest import EPISODE_FILE
from service import handoff
from tests.helpers import publish_box_models, publish_models, random_box_models, random_models, small_gif
from tests.service.inprocess import build_client

EPISODE = small_gif(seed=1)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    publish_box_models(root, "cartpole", *random_box_models(seed=3), episode=EPISODE)
    tampered = publish_box_models(root, "cartpole", *random_box_models(seed=4), episode=small_gif(seed=2)).path
    data = bytearray((tampered / EPISODE_FILE).read_bytes())
    data[-2] ^= 0xFF  # a byte of the last frame: still a GIF, no longer the one hashed
    (tampered / EPISODE_FILE).write_bytes(bytes(data))
    publish_models(root, "lake", *random_models(seed=1))  # published without an episode
    return build_client(root, tmp_path_factory.mktemp("cache"))


def assert_episode_not_found(response, code="episode_not_found"):
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert response.json["error"]["code"] == code


def test_the_episode_is_served_as_a_gif_that_is_not_sniffed(client):
    response = client.get("/models/cartpole/versions/1/episode.gif")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == EPISODE


def test_a_label_names_the_version_too(client):
    assert client.get("/models/cartpole/versions/latest/episode.gif").data == EPISODE


def test_a_version_without_an_episode_is_a_404(client):
    assert_episode_not_found(client.get("/models/lake/versions/1/episode.gif"))


def test_a_gif_changed_after_publishing_fails_its_version_and_is_never_served(client):
    versions = {v["version"]: v for v in client.get("/models/cartpole").json["versions"]}
    assert versions[2]["state"] == "failed" and f"{EPISODE_FILE} does not match its sha256" in versions[2]["error"]
    assert_episode_not_found(client.get("/models/cartpole/versions/2/episode.gif"), "version_not_found")
    assert client.get("/models/cartpole/versions/latest/episode.gif").data == EPISODE  # version 1 serves on


def test_unknown_policies_and_bad_versions_answer_in_the_error_shape(client):
    assert_episode_not_found(client.get("/models/nobody/versions/1/episode.gif"), "policy_not_found")
    response = client.get("/models/cartpole/versions/0/episode.gif")
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_request"


def test_the_page_shows_the_episode_next_to_the_curve(client):
    page = client.get("/").text
    cartpole = page.split('id="policy-cartpole"')[1].split("</section>")[0]
    assert '<img src="models/cartpole/versions/1/episode.gif"' in cartpole
    assert client.get("/" + "models/cartpole/versions/1/episode.gif").data == EPISODE  # the src, from /
    lake = page.split('id="policy-lake"')[1].split("</section>")[0]
    assert "<img" not in lake


def test_a_cached_copy_that_no_longer_matches_its_hash_is_not_served(tmp_path):
    root = tmp_path / "artifacts"
    publish_box_models(root, "cartpole", *random_box_models(seed=3), episode=EPISODE)
    client = build_client(root, tmp_path / "cache")
    record = handoff.read_state(tmp_path / "cache").policies["cartpole"].record(1)
    (tmp_path / "cache" / handoff.SERVABLES_DIR / record.episode).write_bytes(small_gif(seed=9))
    assert_episode_not_found(client.get("/models/cartpole/versions/1/episode.gif"))

