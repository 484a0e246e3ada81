"""`llamacli serve`: the local engine as an HTTP API that OpenAI's and ollama's clients can use.

A thin translation layer: requests are validated at the door (pydantic models of each protocol), then
asked of the model pool (services/model_pool.py), whose engines batch concurrent requests
(engine/batch.py). Nothing here loads a model, samples or schedules. Starlette, uvicorn and pydantic
are imported only by this package, and it only by `serve`, so no other command pays for them.
"""
