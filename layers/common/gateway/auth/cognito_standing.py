"""Whether a console user still stands where its ID token says: enabled, and in the operators' group.

An ID token is good for an hour after it was issued, whatever happens to its user meanwhile, and its
`cognito:groups` are those of that moment. For the operators' pages that is too long: an operator
removed from the group, or a user disabled, loses those pages within `STANDING_SECONDS`, as the user
pool says now (AdminGetUser, AdminListGroupsForUser)."""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from typing import Any

from gateway.auth.cognito import ENDPOINT_SERVICE, Identity, pool
from gateway.errors import ServiceUnavailable
from gateway.storage.dynamo import local_stand_in

STANDING_SECONDS = 30.0  # how long an operator's standing, as read from the pool, is trusted
_lock = threading.Lock()
_read: dict[str, tuple[float, bool]] = {}  # sub -> (until, is an enabled operator)


def still_operator(identity: Identity, group: str) -> bool:
    """The user is enabled and in `group` now, as the pool said within the last `STANDING_SECONDS`."""
    now = time.monotonic()
    with _lock:
        until, standing = _read.get(identity.sub, (0.0, False))
    if until > now:
        return standing
    standing = _standing(identity.sub, group)
    with _lock:
        _read[identity.sub] = (now + STANDING_SECONDS, standing)
    return standing


def forget() -> None:
    with _lock:
        _read.clear()


def _standing(sub: str, group: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    user_pool = pool().user_pool_id
    try:
        user = _client().admin_get_user(UserPoolId=user_pool, Username=sub)
        if not user.get("Enabled", False):
            return False
        groups = _client().admin_list_groups_for_user(UserPoolId=user_pool, Username=sub, Limit=60)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "UserNotFoundException":
            return False
        raise ServiceUnavailable("The console could not check its user with Cognito; retry shortly.") from error
    except BotoCoreError as error:
        raise ServiceUnavailable("The console could not check its user with Cognito; retry shortly.") from error
    return any(found.get("GroupName") == group for found in groups.get("Groups", []))


@lru_cache(maxsize=1)
def _client() -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(retries={"mode": "standard"}, connect_timeout=2, read_timeout=5)
    return session.client(
        "cognito-idp", region_name=pool().region, config=config, **local_stand_in(session, ENDPOINT_SERVICE)
    )
