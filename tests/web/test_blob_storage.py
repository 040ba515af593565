"""Evidence files in object storage: with ``STEERCO_BLOB_URL`` set, uploads go to an
S3-compatible bucket (here moto's S3 server on the loopback, no network), and both stores
keep the same contract."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from steerco.store.blobs import BlobNotFound, DiskBlobStore, S3BlobStore, blob_store
from steerco.store.models import Attachment

PASSWORD = "correct-horse-battery"  # the conftest's password for every made user
BUCKET = "steerco-evidence"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "eu-central-1"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port, with one bucket."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        yield endpoint
        server.stop()


def _objects(endpoint: str, prefix: str) -> list[str]:
    listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


@pytest.fixture(params=["disk", "s3"])
def store(request, s3_endpoint: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "disk":
        return DiskBlobStore(tmp_path)
    return blob_store(f"s3://{BUCKET}/contract?endpoint_url={s3_endpoint}", tmp_path)


def test_both_stores_keep_a_blob_per_tenant_under_a_key_they_choose(store) -> None:  # type: ignore[no-untyped-def]
    key = store.put(1, b"%PDF-1.4 business case")
    assert key.isalnum() and store.get(1, key) == b"%PDF-1.4 business case"
    assert store.put(1, b"other") != key
    with pytest.raises(BlobNotFound):
        store.get(2, key)  # another tenant's folder does not hold it
    with pytest.raises(ValueError):
        store.get(1, "../1/" + key)  # no key reaches outside the tenant's blobs
    store.remove(1, key)
    store.remove(1, key)  # removing twice is not an error
    with pytest.raises(BlobNotFound):
        store.get(1, key)


def test_the_setting_names_the_store(s3_endpoint: str, tmp_path: Path) -> None:
    assert isinstance(blob_store("", tmp_path), DiskBlobStore)
    s3 = blob_store(f"s3://{BUCKET}/evidence/prod?endpoint_url={s3_endpoint}&region=eu-central-1", tmp_path)
    assert isinstance(s3, S3BlobStore) and s3.bucket == BUCKET and s3.prefix == "evidence/prod"
    for bad in ("https://bucket/x", "s3:///no-bucket", f"s3://{BUCKET}?endpoint=http://x"):
        with pytest.raises(ValueError, match="STEERCO_BLOB_URL"):
            blob_store(bad, tmp_path)


def test_an_upload_through_the_form_lands_in_the_bucket_and_downloads_back(
        s3_endpoint: str, database_url: str, tmp_path: Path, make_tenant, make_user, records_for,
        session) -> None:  # type: ignore[no-untyped-def]
    from werkzeug.datastructures import MultiDict

    from steerco import create_app
    from steerco.engine.records import Submission

    uploads = tmp_path / "uploads"
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": database_url,
                      "UPLOAD_DIR": str(uploads), "WTF_CSRF_ENABLED": False,
                      "BLOB_URL": f"s3://{BUCKET}/app?endpoint_url={s3_endpoint}"})
    tenant = make_tenant()
    user = make_user(tenant, [("admin", None)])
    program = records_for(tenant, user).create("program", None, Submission("Cost program", MultiDict()))
    session.commit()
    client = app.test_client()
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    created = client.post(f"/t/mini/new/measure?parent={program.id}", content_type="multipart/form-data", data={
        "title": "Renegotiate steel", "category": "procurement", "has_capex": "0",
        "evidence": (io.BytesIO(b"%PDF-1.4 case in the bucket"), "case.pdf")})
    assert created.status_code == 303, created.get_data(as_text=True)[:2000]
    attachment = session.query(Attachment).one()
    assert _objects(s3_endpoint, "app/") == [f"app/{tenant.id}/{attachment.storage_key}"]
    assert not uploads.exists() or not any(uploads.rglob("*")), "nothing is written to the local folder"
    download = client.get(f"/t/mini/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == b"%PDF-1.4 case in the bucket"
