"""OpenAI and every OpenAI-compatible server (DeepSeek, vLLM, Ollama, ...)."""
