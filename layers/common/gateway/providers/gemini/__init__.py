"""Google Gemini API (generativelanguage v1beta): pure `transform` to and from our OpenAI canonical form."""
