"""Settings of every function, read from the environment once and on first use.

A plain pydantic model validated from os.environ (by alias): pydantic-settings would add ~110 ms of
imports to every cold start for sources (dotenv, secrets dirs, CLI) the functions never use.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_CATALOG = Path(__file__).parent / "catalog" / "models.yaml"


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    table_name: str = Field("ai-gateway", alias="GATEWAY_TABLE", min_length=3)
    idempotency_table: str = Field("ai-gateway-idempotency", alias="IDEMPOTENCY_TABLE", min_length=3)
    catalog_path: Path = Field(DEFAULT_CATALOG, alias="GATEWAY_CATALOG")
    # Secrets Manager secret (JSON object) holding provider credentials in AWS;
    # without it, credentials come from the environment (OPENAI_API_KEY, ...).
    provider_secret_arn: str | None = Field(None, alias="PROVIDER_SECRET_ARN")
    provider_secret_max_age: int = Field(300, alias="PROVIDER_SECRET_MAX_AGE", ge=0)
    # A reservation outlives the longest request; the sweeper refunds it after that.
    reservation_ttl_seconds: int = Field(960, alias="RESERVATION_TTL_SECONDS", ge=30)
    # Balance shards of a new account: each takes 1/n of the account's writes (storage/balances.py).
    balance_shards: int = Field(16, alias="BALANCE_SHARDS", ge=1, le=64)
    trace_retention_days: int = Field(90, alias="TRACE_RETENTION_DAYS", ge=1)
    key_cache_seconds: float = Field(30.0, alias="KEY_CACHE_SECONDS", ge=0)
    upstream_timeout_seconds: float = Field(600.0, alias="UPSTREAM_TIMEOUT_SECONDS", gt=0)
    # Streams: an SSE comment after this many idle seconds (API Gateway cuts streams idle for 5 min);
    # after a client disconnects, how long the upstream is read on for the usage it owes.
    # A non-streamed answer sends nothing until it is whole, and API Gateway drops a response idle for
    # 5 minutes: such calls end (504, nothing charged that the provider did not report) before that.
    buffered_answer_seconds: float = Field(280.0, alias="BUFFERED_ANSWER_SECONDS", gt=0)
    heartbeat_seconds: float = Field(15.0, alias="HEARTBEAT_SECONDS", gt=0)
    disconnect_drain_seconds: float = Field(3.0, alias="DISCONNECT_DRAIN_SECONDS", ge=0)
    upstream_connect_timeout_seconds: float = Field(10.0, alias="UPSTREAM_CONNECT_TIMEOUT_SECONDS", gt=0)
    # What one credit is worth in US dollars, for the `cost_usd` fields of usage and traces.
    credit_price_usd: str = Field("1", alias="CREDIT_PRICE_USD", pattern=r"^\d+(\.\d+)?$")
    # Image tasks: the queue their worker reads (unset: the worker runs in-process) and the bucket
    # that keeps their images.
    image_tasks_queue_url: str | None = Field(None, alias="IMAGE_TASKS_QUEUE_URL")
    images_bucket: str | None = Field(None, alias="IMAGES_BUCKET")
    # Where a charge goes when DynamoDB took neither its settlement nor its pending record (unset: none)
    unsettled_queue_url: str | None = Field(None, alias="UNSETTLED_QUEUE_URL")
    # The sweeper's receive waits this long: a long poll asks every SQS server (a short one, 0, samples
    # some and may miss a message until the next sweep; the tests' moto has one server)
    unsettled_wait_seconds: int = Field(1, alias="UNSETTLED_WAIT_SECONDS", ge=0, le=20)
    # The longest an image task's work may take (the worker's timeout): a task closer than this to
    # its deadline is ended unworked, so the provider is never paid for images nobody is charged for.
    image_task_work_seconds: int = Field(300, alias="IMAGE_TASK_WORK_SECONDS", ge=0)
    max_body_bytes: int = Field(10 * 1024 * 1024, alias="MAX_BODY_BYTES", gt=0)
    # The console: the Cognito user pool and app client whose ID tokens it accepts, whether anyone may
    # sign up, the credits a new user's account starts with, and the group whose members are operators.
    cognito_user_pool_id: str | None = Field(None, alias="COGNITO_USER_POOL_ID", pattern=r"^[\w-]+_[0-9A-Za-z]+$")
    cognito_client_id: str | None = Field(None, alias="COGNITO_CLIENT_ID", pattern=r"^[\w+]+$")
    console_self_sign_up: bool = Field(True, alias="CONSOLE_SELF_SIGN_UP")
    console_starting_credits: str = Field("0", alias="CONSOLE_STARTING_CREDITS", pattern=r"^\d{1,12}(\.\d{1,6})?$")
    console_operator_group: str = Field("operators", alias="CONSOLE_OPERATOR_GROUP", min_length=1)
    # Stored responses (POST /v1/responses with `store`): how long they are kept, and the bucket that
    # holds those too large for a table item (unset: such responses are answered but not stored)
    response_retention_days: int = Field(30, alias="RESPONSE_RETENTION_DAYS", ge=1, le=3650)
    responses_bucket: str | None = Field(None, alias="RESPONSES_BUCKET")
    # The runtime catalog (catalog/live.py): models, prices and channels from the table, models.yaml
    # its seed; how often a warm process compares its version stamp, and how stale it may ever serve.
    runtime_catalog: bool = Field(False, alias="RUNTIME_CATALOG")
    catalog_check_seconds: float = Field(5.0, alias="CATALOG_CHECK_SECONDS", ge=0)
    catalog_max_stale_seconds: float = Field(15.0, alias="CATALOG_MAX_STALE_SECONDS", ge=0)
    # Channel keys live in Secrets Manager under this prefix (the functions may read only there).
    channel_secret_prefix: str = Field("ai-gateway/channels/", alias="CHANNEL_SECRET_PREFIX", min_length=1)
    channel_secret_max_age: float = Field(300.0, alias="CHANNEL_SECRET_MAX_AGE", ge=0)
    # The KMS key customers' own provider keys are encrypted with (unset: bring-your-own-key is off).
    byok_kms_key_id: str | None = Field(None, alias="BYOK_KMS_KEY_ID")
    byok_key_cache_seconds: float = Field(300.0, alias="BYOK_KEY_CACHE_SECONDS", ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
