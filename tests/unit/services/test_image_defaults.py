"""An image request without a model: the catalog's default, or a 400 model_required when it has none."""

from __future__ import annotations

import pytest

from gateway.catalog.registry import Catalog
from gateway.errors import ModelRequired
from gateway.formats.images import ImageGenerationRequest
from gateway.services import images

IMAGE = {
    "id": "openai/dall-e-3",
    "display_name": "DALL-E 3",
    "owned_by": "openai",
    "category": "image",
    "pricing": {"image": {"*": "0.04"}},
    "providers": [{"provider": "openai", "model": "dall-e-3"}],
}


def catalog(**defaults: str) -> Catalog:
    return Catalog.model_validate(
        {"providers": {"openai": {"kind": "openai"}}, "models": [IMAGE], "defaults": defaults}
    )


def test_a_request_without_a_model_names_the_default_and_keeps_what_the_client_set(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(images, "get_catalog", lambda: catalog(image="openai/dall-e-3"))
    request = ImageGenerationRequest.model_validate({"prompt": "an otter", "n": 1, "size": "1024x1024"})
    named = images._with_model(request)
    assert named.model == "openai/dall-e-3"
    assert named.upstream_body() == {"model": "openai/dall-e-3", "prompt": "an otter", "n": 1, "size": "1024x1024"}


def test_a_request_naming_a_model_keeps_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(images, "get_catalog", lambda: catalog(image="openai/dall-e-3"))
    request = ImageGenerationRequest.model_validate({"model": "gpt-image-1", "prompt": "x"})
    assert images._with_model(request) is request


def test_without_a_default_a_request_without_a_model_is_model_required(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(images, "get_catalog", lambda: catalog())
    with pytest.raises(ModelRequired) as refused:
        images._with_model(ImageGenerationRequest.model_validate({"prompt": "x"}))
    assert (refused.value.status, refused.value.code, refused.value.param) == (400, "model_required", "model")


def test_the_upstream_is_asked_for_the_size_and_quality_the_request_is_charged_for() -> None:
    """The model's first size and quality stand in for those left out, in the charge and the body
    alike; a model that lists none (Gemini's) is sent none."""
    listed = {**IMAGE, "media": {"sizes": ["1024x1024", "1792x1024"], "qualities": ["standard", "hd"]}}
    entry = Catalog.model_validate({"providers": {"openai": {"kind": "openai"}}, "models": [listed]}).models[0]
    bare = ImageGenerationRequest.model_validate({"model": "openai/dall-e-3", "prompt": "x"})
    assert images.priced_body(entry, bare) == {"model": "openai/dall-e-3", "prompt": "x", "size": "1024x1024",
                                               "quality": "standard"}  # fmt: skip
    chosen = ImageGenerationRequest.model_validate({"model": "openai/dall-e-3", "prompt": "x", "quality": "hd"})
    assert (images.priced_body(entry, chosen)["quality"], images.size_and_quality(entry, chosen)) == (
        "hd", ("1024x1024", "hd"))  # fmt: skip
    unlisted = catalog().models[0]
    assert images.priced_body(unlisted, bare) == {"model": "openai/dall-e-3", "prompt": "x"}
