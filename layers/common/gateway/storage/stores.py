"""The repositories of the gateway's table, built in one place: `stores()` is the process's set, on
the table the settings name (made on first use); `use()` puts another set in its place (a test's
fakes) until `use(None)` or `reset()`."""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

from gateway.config import get_settings

if TYPE_CHECKING:
    from gateway.storage.accounts import AccountRepository
    from gateway.storage.api_keys import ApiKeyRepository
    from gateway.storage.channel_windows import ChannelWindowRepository
    from gateway.storage.codes import CodeRepository
    from gateway.storage.control import ControlRepository
    from gateway.storage.credits import CreditRepository
    from gateway.storage.dynamo_client import DynamoClient
    from gateway.storage.operators import OperatorRepository
    from gateway.storage.profiles import ProfileRepository
    from gateway.storage.responses import ResponseRepository
    from gateway.storage.tasks import TaskRepository
    from gateway.storage.usage import TraceRepository, UsageRepository
    from gateway.storage.users import UserRepository

# Each repository's module (under gateway.storage) and class
_REPOSITORIES = {
    "accounts": ("accounts", "AccountRepository"),
    "keys": ("api_keys", "ApiKeyRepository"),
    "credits": ("credits", "CreditRepository"),
    "usage": ("usage", "UsageRepository"),
    "traces": ("usage", "TraceRepository"),
    "tasks": ("tasks", "TaskRepository"),
    "users": ("users", "UserRepository"),
    "operators": ("operators", "OperatorRepository"),
    "responses": ("responses", "ResponseRepository"),
    "control": ("control", "ControlRepository"),
    "profiles": ("profiles", "ProfileRepository"),
    "codes": ("codes", "CodeRepository"),
    "channel_windows": ("channel_windows", "ChannelWindowRepository"),
}


class Stores:
    """The repositories of one table, each made (its module imported) when first used: a cold start
    imports the storage modules its request reads, not all of them (~10 ms)."""

    accounts: AccountRepository
    keys: ApiKeyRepository
    credits: CreditRepository  # reservations, settlements and the ledger entries they write
    usage: UsageRepository  # daily aggregates
    traces: TraceRepository  # the ledger, as listings read it
    tasks: TaskRepository  # image tasks
    users: UserRepository  # the console's users: the account each acts for
    operators: OperatorRepository  # the account directory, the operator log, platform totals
    responses: ResponseRepository  # stored Responses API answers
    control: ControlRepository  # the runtime catalog: models, providers, channels, price groups
    profiles: ProfileRepository  # accounts' price groups and own provider keys
    codes: CodeRepository  # top-up codes
    channel_windows: ChannelWindowRepository  # per-channel caps

    def __init__(self, table: str, client: DynamoClient | None = None) -> None:
        self.table = table
        self.client = client

    @classmethod
    def on(cls, table: str, client: DynamoClient | None = None) -> Stores:
        return cls(table, client)

    def replacing(self, **repositories: Any) -> Stores:
        """The same stores with some repositories in place of their own (a test's fakes)."""
        replaced = Stores(self.table, self.client)
        replaced.__dict__.update(repositories)
        return replaced

    def __getattr__(self, name: str) -> Any:
        if name not in _REPOSITORIES:
            raise AttributeError(name)
        module, class_name = _REPOSITORIES[name]
        repository = getattr(import_module(f"gateway.storage.{module}"), class_name)(self.table, self.client)
        self.__dict__[name] = repository  # found before __getattr__ from now on
        return repository


_replacement: Stores | None = None


@lru_cache(maxsize=4)
def _on(table: str) -> Stores:
    return Stores.on(table)


def stores() -> Stores:
    return _replacement if _replacement is not None else _on(get_settings().table_name)


def use(replacement: Stores | None) -> None:
    global _replacement
    _replacement = replacement


def reset() -> None:
    use(None)
    _on.cache_clear()
