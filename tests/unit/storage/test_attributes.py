"""Item (de)serialisation agrees with boto3's TypeSerializer / TypeDeserializer."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from gateway.storage.dynamo import from_item, to_attribute, to_attributes

VALUES: list[Any] = [
    "text",
    "",
    0,
    -42,
    10**20,
    Decimal("0.000001"),
    Decimal("-12.5"),
    True,
    False,
    None,
    {"nested": {"list": [1, "a", {"deep": False}], "n": Decimal("1.25")}},
    [],
    {},
    ("tuple", 1),
    {"a", "b"},
    {1, 2},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_serialises_as_boto3_does(value: Any) -> None:
    expected = TypeSerializer().serialize(value)
    ours = to_attribute(value)
    if "SS" in expected or "NS" in expected:  # set order is not defined
        ((kind, items),) = expected.items()
        assert ours == {kind: sorted(items)} or sorted(ours[kind]) == sorted(items)
    else:
        assert ours == expected


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_reads_back_what_boto3_reads_with_whole_numbers_as_int(value: Any) -> None:
    wire = TypeSerializer().serialize(value)
    theirs = TypeDeserializer().deserialize(wire)
    ours = from_item({"v": wire})["v"]
    assert ours == theirs
    assert type(ours) is int or not isinstance(theirs, Decimal) or theirs != theirs.to_integral_value()


def test_binary_goes_as_base64_on_the_wire_and_comes_back_as_bytes() -> None:
    assert to_attribute(b"\x00\xff") == {"B": b"\x00\xff"}
    assert from_item({"b": {"B": base64.b64encode(b"\x00\xff").decode()}}) == {"b": b"\x00\xff"}
    assert TypeDeserializer().deserialize({"B": b"\x00\xff"}) == Binary(b"\x00\xff")


def test_none_values_are_left_out_of_items_and_floats_refused() -> None:
    assert to_attributes({"a": 1, "b": None}) == {"a": {"N": "1"}}
    with pytest.raises(TypeError):
        to_attribute(1.5)
    with pytest.raises(TypeError):
        TypeSerializer().serialize(1.5)
