"""Each vendor's own wire vocabulary (error types, stop reasons, usage fields, field spellings, SSE
framing): pure data and functions shared by its inbound format (`formats`) and its upstream
(`providers`), so that neither imports the other. OpenAI's vocabulary is the canonical one
(`gateway.canonical`)."""
