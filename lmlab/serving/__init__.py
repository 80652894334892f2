"""Serving lmlab models over HTTP: `lmlab serve ARCHIVE` (see `lmlab.commands.serve`).

`app.create_app(predictor, settings)` builds the FastAPI application: JSON endpoints on top of a
`Predictor` (`/predict`, `/predict_batch`, `/generate` with server-sent events), `/health`, `/info`,
`/metrics` and the autocomplete page (`static/`). `batcher.MicroBatcher` merges concurrent requests into
one predictor call that runs in a worker thread, off the event loop; `generation.GenerationStreams` keeps
the streamed continuations in one running batch that advances a token per step on that thread. Nothing
here is imported by `lmlab --help`: fastapi and uvicorn load when a server is built.
"""
