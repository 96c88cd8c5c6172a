"""Request bodies of the console's operator actions. Unknown fields are errors."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from gateway.formats.keys import Credits
from gateway.formats.wire import WireModel
from gateway.money import credits_to_micro

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class TopUp(WireModel):
    model_config = ConfigDict(extra="forbid")

    credits: Credits
    note: Note = ""

    @field_validator("credits")
    @classmethod
    def _positive_six_places(cls, value: Credits) -> Credits:
        if credits_to_micro(value) <= 0:  # raises on more than 6 decimal places
            raise ValueError("a top-up adds a positive number of credits")
        return value


class AccountSwitch(WireModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool = Field(strict=True)
    note: Note = ""
