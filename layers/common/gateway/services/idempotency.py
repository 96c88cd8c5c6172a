"""`Idempotency-Key` support: Powertools idempotency, its records in the stack's idempotency table.

A retried operation with the same key (and the same body) returns the first answer instead of acting
twice; the same key with another body is refused; a retry while the first is running gets a 409.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

from gateway.config import get_settings
from gateway.entry import lambda_context
from gateway.errors import Conflict, InvalidRequest

REPLAY_WINDOW_SECONDS = 3_600
MAX_KEY_LENGTH = 255


def run_once(operation: str, scope: str, idempotency_key: str, body: Any, work: Callable[[], dict[str, Any]]) -> Any:
    """`work()` once per (operation, scope, idempotency_key); later calls get its stored answer."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.", param="Idempotency-Key")
    runner, config = _runner(operation, get_settings().idempotency_table)
    context = lambda_context()
    if context is not None:
        config.register_lambda_context(context)  # an in-progress record expires with the invocation
    try:
        return runner(request={"scope": scope, "key": idempotency_key, "body": body}, work=work)
    except IdempotencyValidationError as error:
        raise InvalidRequest(
            "This Idempotency-Key was already used with a different request body.",
            param="Idempotency-Key",
            code="idempotency_key_reused",
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly.") from error


@lru_cache(maxsize=16)
def _runner(operation: str, table: str) -> tuple[Callable[..., Any], IdempotencyConfig]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from gateway.storage import dynamo

    config = IdempotencyConfig(
        event_key_jmespath="[scope, key]",
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=REPLAY_WINDOW_SECONDS,
        use_local_cache=False,
    )
    store = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamo.boto3_client())

    def perform(request: dict[str, Any], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return work()

    runner = idempotent_function(
        perform, data_keyword_argument="request", persistence_store=store, config=config, key_prefix=operation
    )
    return runner, config
