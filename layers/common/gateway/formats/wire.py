"""Base of every inbound request schema: bodies the gateway can forward as they came."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, model_validator


class WireModel(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        """JSON may carry lone UTF-16 surrogates ("\\ud800"); such text cannot be sent on as UTF-8."""
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError("text must be valid Unicode (it holds an unpaired surrogate)") from error
        except (TypeError, ValueError):
            pass  # not JSON-shaped: the field validators say what is wrong
        return data
