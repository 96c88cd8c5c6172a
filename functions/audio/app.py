"""Audio routes: text to speech (audio bytes out) and transcription (multipart upload in), billed per
input character and per second of audio. The flows are in gateway.services.audio. Served by uvicorn
behind the Lambda Web Adapter (run.sh), streamed: no 29 s or 6 MB limit on an answer."""

from __future__ import annotations

from gateway.formats.audio import SpeechRequest, read_transcription
from gateway.http import InferenceKey, create_app, trace_id_of
from gateway.routes import Routes
from gateway.services import audio
from gateway.web import Request, Response

router = Routes()


@router.post("/v1/audio/speech")
async def create_speech(payload: SpeechRequest, request: Request, principal: InferenceKey) -> Response:
    answer = await audio.speak(principal, payload, trace_id_of(request))
    return Response(answer.content, media_type=answer.media_type, headers=answer.headers)


@router.post("/v1/audio/transcriptions")
async def create_transcription(request: Request, principal: InferenceKey) -> Response:
    payload = await read_transcription(request)
    answer = await audio.transcribe(principal, payload, trace_id_of(request))
    return Response(answer.content, media_type=answer.media_type, headers=answer.headers)


app = create_app(router, title="AI Gateway: audio")
