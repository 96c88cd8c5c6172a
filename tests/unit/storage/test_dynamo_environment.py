"""Where the DynamoDB client finds its endpoint, region and credentials: as the AWS SDKs do."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.storage.dynamo_client import DynamoError, from_environment

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_PROFILE",
)


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # no profile of this machine's user, no instance metadata
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def test_lambda_style_environment_credentials_and_region(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    client = from_environment()
    assert client.endpoint == "https://dynamodb.eu-central-1.amazonaws.com/"
    assert client.region == "eu-central-1"
    credentials = client._credentials()
    assert (credentials.access_key, credentials.secret_key, credentials.token) == ("ASIAENV", "secret", "token")


def test_a_developer_profile_is_read_through_botocore(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean / "credentials").write_text("[work]\naws_access_key_id = AKIAFILE\naws_secret_access_key = filesecret\n")
    (clean / "config").write_text("[profile work]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_PROFILE", "work")
    client = from_environment()
    assert client.region == "ap-southeast-2"
    assert client._credentials().access_key == "AKIAFILE"
    assert client._credentials().token is None


def test_dynamodb_local_on_loopback_needs_no_credentials(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8001")
    client = from_environment()
    assert client.endpoint == "http://127.0.0.1:8001/"
    assert client.region == "us-east-1"
    assert client._credentials().access_key == "local"


def test_no_credentials_for_a_real_endpoint_is_an_error(clean: Path) -> None:
    with pytest.raises(DynamoError, match="no AWS credentials"):
        from_environment()
