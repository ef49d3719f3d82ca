"""Track embeddings (pgvector): providers (local ONNX model, OpenAI), the audio-feature vector, storing and
backfilling vectors, and the jobs that keep them in step. Readers filter on `service.text_model()` /
`features.AUDIO_MODEL`: vectors of different models are never compared."""
