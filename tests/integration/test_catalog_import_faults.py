"""A catalog import too big for one transaction, meeting DynamoDB's failures: it is written into a
partition no reader looks at, and the version stamp moves to it last, in one update. So an import
throttled midway, slow, or overtaken by another change leaves the catalog every process loads as it
was (a cold start meanwhile is served, an unrelated change later takes none of it live), and what it
wrote is deleted once it is known not to be named (or stays where nothing reads it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.catalog import live
from gateway.services import catalog_admin, channel_admin
from gateway.storage import dynamo
from gateway.storage.stores import stores
from tests.conftest import TEST_TABLE
from tests.support.control import unique
from tests.support.dynamo_faults import Fault, FaultProxy

MODELS = 110  # past one transaction's 100 items


def document(prefix: str, *, price: str = "1", image: bool = True) -> dict[str, Any]:
    """MODELS chat models named `<prefix>/mNNN`, and (with `image`) an image model the document makes
    the catalog's default: a part of it without the rest would not load."""
    models: list[dict[str, Any]] = [
        {"id": f"{prefix}/m{i:03d}", "display_name": "x", "owned_by": "ops", "context_length": 8192,
         "max_output_tokens": 100, "pricing": {"input": price, "output": "1"},
         "providers": [{"provider": "fake", "model": "echo"}]}
        for i in range(MODELS)
    ]  # fmt: skip
    if not image:
        return {"models": models}
    models.append(
        {"id": f"{prefix}/img", "display_name": "img", "owned_by": "ops", "category": "image",
         "pricing": {"image": {"*": "0.04"}}, "media": {"sizes": ["1024x1024"]},
         "providers": [{"provider": "fake-images", "model": "image-fake"}]}
    )  # fmt: skip
    return {"models": models, "defaults": {"image": f"{prefix}/img"}}


def homes() -> dict[str, int]:
    """Every catalog partition in the table (the stamp's own aside), with its item count."""
    found: dict[str, int] = {}
    params: dict[str, Any] = {"TableName": TEST_TABLE, "FilterExpression": "begins_with(pk, :catalog)"}
    params["ExpressionAttributeValues"] = {":catalog": {"S": "CATALOG"}}
    while True:
        page = dynamo.client().scan(**params)
        for item in page.get("Items", []):
            if item["sk"]["S"] != "VERSION":
                found[item["pk"]["S"]] = found.get(item["pk"]["S"], 0) + 1
        if "LastEvaluatedKey" not in page:
            return found
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def paused_import(proxy: FaultProxy, prefix: str) -> tuple[threading.Thread, list[BaseException]]:
    """An import of `document(prefix)` in a thread, paused at its second batch (`proxy.resume()` lets
    it go on); with the errors it ends with."""
    proxy.arm(Fault("BatchWriteItem", 2, 1, "pause"))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            catalog_admin.import_document(document(prefix))
        except BaseException as error:
            errors.append(error)

    importer = threading.Thread(target=run)
    importer.start()
    assert proxy.paused.wait(30)
    return importer, errors


@pytest.fixture
def proxy(proxied_gateway: tuple[str, FaultProxy]) -> Iterator[FaultProxy]:
    """The fault proxy; afterwards the catalog is as before (the default image model, no test models)."""
    _, fault_proxy = proxied_gateway
    catalog_admin.seed()
    yield fault_proxy
    fault_proxy.resume()
    fault_proxy.arm(None)

    def restore(draft: Any) -> None:
        draft.defaults[""] = {"image": "test/image"}
        for name in [name for name in draft.models if name.startswith("faults-")]:
            draft.models.pop(name)

    catalog_admin.change(restore)
    live.reset()


def chat(url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_an_import_throttled_midway_leaves_the_catalog_as_it_was(proxied_gateway, proxy, upstream, make_tenant):
    url, _ = proxied_gateway
    tenant = make_tenant("10")
    priced = unique("faults-p") + "/priced"
    catalog_admin.create_model({**document("x", image=False)["models"][0], "id": priced})
    version = stores().control.version(consistent=True)
    prefix = unique("faults-t")
    ahead = document(prefix)  # the model's price raised, among MODELS new models
    ahead["models"].append({**catalog_admin.get_model(priced), "pricing": {"input": "50", "output": "50"}})

    # When the import's second batch is throttled past the client's retries (its cleanup too)
    proxy.arm(Fault("BatchWriteItem", 2, 1_000, "throttle"))
    with pytest.raises(dynamo.DynamoError):
        catalog_admin.import_document(ahead)
    proxy.arm(None)

    # Then the catalog is the one before it, which a cold process loads and serves
    assert stores().control.version(consistent=True) == version
    live.reset()
    assert chat(url, tenant.key).status_code == 200
    assert live.snapshot().catalog.default_model("image") == "test/image"
    # and an unrelated change takes none of it live
    channel_admin.put_group(unique("grp"), {"ratio": "1"})
    live.reset()
    assert str(live.snapshot().catalog.resolve(priced).pricing.input) == "1"
    # and what it wrote is nowhere a process reads
    assert not [spec for spec in stores().control.load().specs if spec.name.startswith(f"{prefix}/")]


def test_an_import_is_answered_503_when_dynamodb_throttles_it(proxied_gateway, proxy):
    from gateway.services.operator_keys import issue_operator_key

    url, _ = proxied_gateway
    key = issue_operator_key("faults").key
    version = stores().control.version(consistent=True)
    proxy.arm(Fault("BatchWriteItem", 2, 1_000, "throttle"))
    response = httpx.post(
        f"{url}/api/admin/catalog/import",
        json=document(unique("faults-a")),
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    proxy.arm(None)
    assert response.status_code == 503, response.text[:300]
    assert response.headers["retry-after"] == "1"
    assert stores().control.version(consistent=True) == version


def test_a_cold_request_while_a_slow_import_is_written_is_served_the_catalog_before_it(
    proxied_gateway, proxy, upstream, make_tenant
):
    url, _ = proxied_gateway
    tenant = make_tenant("10")
    prefix = unique("faults-s")
    before = stores().control.load()
    importer, errors = paused_import(proxy, prefix)
    try:
        live.reset()  # a cold process, while the import's first batch is in the table
        answered = chat(url, tenant.key)
        during = live.snapshot()
    finally:
        proxy.resume()
        importer.join(60)
        proxy.arm(None)
    assert not errors
    assert answered.status_code == 200, answered.text[:300]
    assert during.version == before.version
    assert during.catalog.resolve(f"{prefix}/m000") is None

    # Once the stamp moved, the import is the catalog, and the one it replaced is gone from the table
    after = stores().control.load()
    assert (after.version, after.home != before.home) == (before.version + 1, True)
    live.reset()
    assert live.snapshot().catalog.resolve(f"{prefix}/m109") is not None
    assert before.home not in homes()
    assert chat(url, tenant.key).status_code == 200


def test_an_import_overtaken_by_another_change_is_drafted_again_and_its_first_copy_deleted(proxied_gateway, proxy):
    prefix, group = unique("faults-o"), unique("grp")
    before, earlier = stores().control.load(), set(homes())
    importer, errors = paused_import(proxy, prefix)
    try:
        channel_admin.put_group(group, {"ratio": "0.5"})  # written while the import's batches wait
    finally:
        proxy.resume()
        importer.join(60)
        proxy.arm(None)
    assert not errors
    current = stores().control.load()
    assert {spec.name for spec in current.of("GROUP")} >= {group}  # the import, drafted again, keeps it
    assert any(spec.name == f"{prefix}/m000" for spec in current.of("MODEL"))
    now = homes()
    assert set(now) - earlier == {current.home}  # its first copy is deleted
    assert before.home not in now  # and so is the catalog before it
