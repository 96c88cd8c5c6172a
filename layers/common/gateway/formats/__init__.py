"""The API formats clients speak: request schemas (every number bounded), each chat format's
translation to the canonical request (`openai`, `anthropic`, `gemini`) and of canonical answers back
(`*_answers`, registered by name in `inbound.FORMATS`), and the images, audio and keys schemas."""
