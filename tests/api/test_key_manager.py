"""The key manager's Barbican subset (/key-manager/v1): secrets and containers, their
bodies, refs, pages and errors, project scoping, encryption at rest and the policy
(docs/tls.md)."""

from __future__ import annotations

import base64
import sqlite3
import uuid
from typing import Any

import pytest

from tests.helpers.server import Api, ServerProcess

KM = "/key-manager/v1"


def store(api: Api, **body: Any) -> str:
    body.setdefault("payload", "s3cret-payload")
    body.setdefault("payload_content_type", "text/plain")
    resp = api.post(f"{KM}/secrets", body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["secret_ref"])


def uuid_of(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def test_version_documents_are_open_and_point_at_v1(server: ServerProcess) -> None:
    with Api(server.url) as anonymous:
        resp = anonymous.get("/key-manager/")
        assert resp.status_code == 200, resp.text
        (v1,) = resp.json()["versions"]["values"]
        assert v1["id"] == "v1" and v1["status"] == "stable"
        assert v1["links"][0]["href"] == f"{server.url}/key-manager/v1/"


def test_store_show_fetch_and_delete_a_text_secret(api: Api, server: ServerProcess) -> None:
    ref = store(api, name="db-password", payload="hunter2")
    assert ref.startswith(f"{server.url}/key-manager/v1/secrets/")
    uuid.UUID(uuid_of(ref))
    meta = api.get(f"{KM}/secrets/{uuid_of(ref)}").json()
    assert meta["secret_ref"] == ref and meta["name"] == "db-password"
    assert meta["status"] == "ACTIVE" and meta["secret_type"] == "opaque"
    assert meta["content_types"] == {"default": "text/plain"}
    assert "payload" not in meta and "hunter2" not in str(meta)
    payload = api.get(f"{KM}/secrets/{uuid_of(ref)}/payload",
                      headers={"Accept": "text/plain"})
    assert payload.status_code == 200 and payload.text == "hunter2"
    assert payload.headers["cache-control"] == "no-store"
    # Barbican's older form: the secret's own URL with the payload's type.
    assert api.get(f"{KM}/secrets/{uuid_of(ref)}",
                   headers={"Accept": "text/plain"}).text == "hunter2"
    # Barbican's conversions: text as bytes, but not bytes that aren't UTF-8 as text.
    as_bytes = api.get(f"{KM}/secrets/{uuid_of(ref)}/payload",
                       headers={"Accept": "application/octet-stream"})
    assert as_bytes.status_code == 200 and as_bytes.content == b"hunter2"
    wrong = api.get(f"{KM}/secrets/{uuid_of(ref)}/payload",
                    headers={"Accept": "application/json"})
    assert wrong.status_code == 406, wrong.text
    assert api.delete(f"{KM}/secrets/{uuid_of(ref)}").status_code == 204
    gone = api.get(f"{KM}/secrets/{uuid_of(ref)}")
    assert gone.status_code == 404
    assert gone.json() == {"code": 404, "title": "Not Found",
                           "description": "Secret not found."}


def test_a_binary_secret_comes_back_byte_for_byte(api: Api) -> None:
    raw = bytes(range(256))
    ref = store(api, payload=base64.b64encode(raw).decode(),
                payload_content_type="application/octet-stream",
                payload_content_encoding="base64", secret_type="certificate")
    resp = api.get(f"{KM}/secrets/{uuid_of(ref)}/payload",
                   headers={"Accept": "application/octet-stream"})
    assert resp.status_code == 200 and resp.content == raw
    not_text = api.get(f"{KM}/secrets/{uuid_of(ref)}/payload",
                       headers={"Accept": "text/plain"})
    assert not_text.status_code == 406 and not_text.json()["code"] == 406


@pytest.mark.parametrize("body, words", [
    ({"payload": "x"}, "payload_content_type must be given"),
    ({"payload": "", "payload_content_type": "text/plain"}, "must be non empty"),
    ({"payload": "x", "payload_content_type": "text/html"}, "is not one of"),
    ({"payload": "x", "payload_content_type": "application/octet-stream"},
     "must be base64"),
    ({"payload": "%%%", "payload_content_type": "application/octet-stream",
      "payload_content_encoding": "base64"}, "not valid base64"),
    ({"payload": "x", "payload_content_type": "text/plain",
      "expiration": "2001-01-01T00:00:00Z"}, "in the past"),
    ({"payload": "x", "payload_content_type": "text/plain", "secret_type": "magic"},
     "secret_type"),
    ({"payload": "x", "payload_content_type": "text/plain", "colour": "red"},
     "Unrecognized attribute"),
])
def test_bad_secrets_get_barbicans_400(api: Api, body: dict[str, Any], words: str) -> None:
    resp = api.post(f"{KM}/secrets", body)
    assert resp.status_code == 400, resp.text
    error = resp.json()
    assert error["code"] == 400 and error["title"] == "Bad Request"
    assert words in error["description"]


def test_the_list_pages_as_barbican_does(api: Api, server: ServerProcess) -> None:
    refs = [store(api, name=f"s{i}") for i in range(5)]
    first = api.get(f"{KM}/secrets", params={"limit": 2}).json()
    assert first["total"] == 5
    assert [s["secret_ref"] for s in first["secrets"]] == refs[:2]
    assert first["next"] == f"{server.url}/key-manager/v1/secrets?limit=2&offset=2"
    assert "previous" not in first
    last = api.get(f"{KM}/secrets", params={"limit": 2, "offset": 4}).json()
    assert [s["secret_ref"] for s in last["secrets"]] == refs[4:]
    assert "next" not in last and last["previous"].endswith("limit=2&offset=2")
    named = api.get(f"{KM}/secrets", params={"name": "s3"}).json()
    assert [s["secret_ref"] for s in named["secrets"]] == [refs[3]]
    assert api.get(f"{KM}/secrets", params={"limit": "x"}).status_code == 400


def test_another_projects_secrets_are_not_found_even_for_its_admin(
        api: Api, project: str) -> None:
    ref = store(api)
    other = api.as_(project=project + "-other")
    for path in (f"{KM}/secrets/{uuid_of(ref)}", f"{KM}/secrets/{uuid_of(ref)}/payload"):
        assert other.get(path).status_code == 404
    assert other.delete(f"{KM}/secrets/{uuid_of(ref)}").status_code == 404
    assert other.get(f"{KM}/secrets").json()["total"] == 0
    # and it can't put them in its own containers either
    resp = other.post(f"{KM}/containers", {"type": "generic", "secret_refs": [
        {"name": "x", "secret_ref": ref}]})
    assert resp.status_code == 404, resp.text


def test_certificate_containers(api: Api, server: ServerProcess) -> None:
    cert, key = store(api, name="cert"), store(api, name="key")
    resp = api.post(f"{KM}/containers", {"name": "web", "type": "certificate",
                                          "secret_refs": [
                                              {"name": "certificate", "secret_ref": cert},
                                              {"name": "private_key", "secret_ref": key}]})
    assert resp.status_code == 201, resp.text
    ref = resp.json()["container_ref"]
    assert ref.startswith(f"{server.url}/key-manager/v1/containers/")
    shown = api.get(f"{KM}/containers/{uuid_of(ref)}").json()
    assert shown["type"] == "certificate" and shown["name"] == "web"
    assert shown["container_ref"] == ref and shown["status"] == "ACTIVE"
    assert sorted((r["name"], r["secret_ref"]) for r in shown["secret_refs"]) == \
        [("certificate", cert), ("private_key", key)]
    listed = api.get(f"{KM}/containers").json()
    assert listed["total"] == 1 and listed["containers"][0]["container_ref"] == ref
    # A secret a container holds is not deleted from under it.
    held = api.delete(f"{KM}/secrets/{uuid_of(cert)}")
    assert held.status_code == 409 and f"container {uuid_of(ref)}" in \
        held.json()["description"]
    assert api.delete(f"{KM}/containers/{uuid_of(ref)}").status_code == 204
    assert api.get(f"{KM}/containers/{uuid_of(ref)}").status_code == 404
    assert api.delete(f"{KM}/secrets/{uuid_of(cert)}").status_code == 204


@pytest.mark.parametrize("refs, words", [
    ([("private_key", "key")], "needs a certificate secret"),
    ([("certificate", "cert"), ("public_key", "key")], "only certificate"),
    ([("certificate", "cert"), ("certificate", "key")], "duplicate"),
])
def test_bad_certificate_containers(api: Api, refs: list[tuple[str, str]],
                                    words: str) -> None:
    secrets = {"cert": store(api), "key": store(api)}
    resp = api.post(f"{KM}/containers", {"type": "certificate", "secret_refs": [
        {"name": n, "secret_ref": secrets[s]} for n, s in refs]})
    assert resp.status_code == 400 and words in resp.json()["description"], resp.text


def test_a_missing_secret_in_a_container_is_a_404(api: Api) -> None:
    resp = api.post(f"{KM}/containers", {"type": "certificate", "secret_refs": [
        {"name": "certificate",
         "secret_ref": f"http://x/key-manager/v1/secrets/{uuid.uuid4()}"}]})
    assert resp.status_code == 404, resp.text


def test_payloads_are_encrypted_at_rest(api: Api, server: ServerProcess,
                                        backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("reads the SQLite file")
    marker = "plain-marker-" + uuid.uuid4().hex
    store(api, payload=marker)
    key_file = server.state_path / "key_manager.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(server.state_path / "lbaas.sqlite") as db:
        stored = [row[0] for row in db.execute("SELECT encrypted_payload FROM km_secrets")]
    assert stored and not any(marker in (s or "") for s in stored)
    assert marker not in server.log_tail(10**6)


def test_the_configured_key_is_used(backend: str, server_factory: Any) -> None:
    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    srv = server_factory(backend, conf={"key_manager": {"encryption_key": key}})
    with Api(srv.url, project="p1") as api:
        ref = store(api, payload="with-my-key")
        assert api.get(f"{KM}/secrets/{uuid_of(ref)}/payload").text == "with-my-key"
    assert not (srv.state_path / "key_manager.key").exists()
    srv.cleanup()


def test_a_bad_key_is_a_clear_error_not_a_500(backend: str, server_factory: Any) -> None:
    srv = server_factory(backend, conf={"key_manager": {"encryption_key": "short"}})
    with Api(srv.url, project="p1") as api:
        resp = api.post(f"{KM}/secrets", {"payload": "x",
                                          "payload_content_type": "text/plain"})
        assert resp.status_code == 503 and "not a valid Fernet key" in resp.text
        assert "short" not in resp.text
    srv.cleanup()


def test_policy_reader_sees_metadata_but_not_payloads(backend: str,
                                                      server_factory: Any) -> None:
    srv = server_factory(backend, auth_strategy="token", tokens=[
        ("writer", "p1", "member"), ("reader", "p1", "reader")])
    with Api(srv.url, token="writer") as writer, Api(srv.url, token="reader") as reader:
        ref = store(writer, payload="for-members")
        assert reader.get(f"{KM}/secrets/{uuid_of(ref)}").status_code == 200
        denied = reader.get(f"{KM}/secrets/{uuid_of(ref)}/payload")
        assert denied.status_code == 403
        assert denied.json()["title"] == "Forbidden"
        assert "secret:decrypt" in denied.json()["description"]
        assert reader.post(f"{KM}/secrets", {"payload": "x", "payload_content_type":
                                              "text/plain"}).status_code == 403
        with Api(srv.url) as nobody:
            unauth = nobody.get(f"{KM}/secrets")
            assert unauth.status_code == 401 and unauth.json()["code"] == 401
    srv.cleanup()
