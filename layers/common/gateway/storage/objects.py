"""S3 (generated images, large stored responses) and SQS (image tasks) clients, created on first use
with boto3's standard configuration (AWS_ENDPOINT_URL_S3 / _SQS point them at local stand-ins)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from gateway.storage.dynamo import local_stand_in

PRESIGNED_URL_SECONDS = 3_600


@lru_cache(maxsize=1)
def s3() -> Any:
    import boto3
    from botocore.config import Config

    local = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    config = Config(s3={"addressing_style": "path" if local else "auto"}, retries={"mode": "standard"})
    session = boto3.session.Session()
    return session.client("s3", config=config, **local_stand_in(session, "S3"))


@lru_cache(maxsize=1)
def sqs() -> Any:
    import boto3

    session = boto3.session.Session()
    return session.client("sqs", **local_stand_in(session, "SQS"))


def put_image(bucket: str, key: str, data: bytes, content_type: str) -> None:
    s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)


def put_bytes(bucket: str, key: str, data: bytes) -> None:
    s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/octet-stream")


def read_bytes(bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when there is no such object (expired, deleted)."""
    try:
        return bytes(s3().get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3().exceptions.NoSuchKey:
        return None


def delete(bucket: str, key: str) -> None:
    s3().delete_object(Bucket=bucket, Key=key)


def presigned_url(bucket: str, key: str) -> str:
    return str(
        s3().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGNED_URL_SECONDS
        )
    )


def enqueue(queue_url: str, body: str) -> None:
    sqs().send_message(QueueUrl=queue_url, MessageBody=body)
