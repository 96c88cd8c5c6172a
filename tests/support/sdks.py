"""The official SDKs pointed at the test gateway, as a client of each format configures them."""

from __future__ import annotations

import anthropic
import openai
from google import genai
from google.genai import types


def openai_sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def anthropic_sdk(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=20)


def gemini_sdk(url: str, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url, api_version="v1beta"))
