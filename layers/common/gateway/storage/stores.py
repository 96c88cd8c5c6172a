"""The repositories of the gateway's table, built in one place: `stores()` is the process's set, on
the table the settings name (made on first use); `use()` puts another set in its place (a test's
fakes) until `use(None)` or `reset()`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from gateway.config import get_settings
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


@dataclass(frozen=True)
class Stores:
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

    @classmethod
    def on(cls, table: str, client: DynamoClient | None = None) -> Stores:
        return cls(
            accounts=AccountRepository(table, client),
            keys=ApiKeyRepository(table, client),
            credits=CreditRepository(table, client),
            usage=UsageRepository(table, client),
            traces=TraceRepository(table, client),
            tasks=TaskRepository(table, client),
            users=UserRepository(table, client),
            operators=OperatorRepository(table, client),
            responses=ResponseRepository(table, client),
            control=ControlRepository(table, client),
            profiles=ProfileRepository(table, client),
            codes=CodeRepository(table, client),
            channel_windows=ChannelWindowRepository(table, client),
        )


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
