"""Remote engines: `run`, `chat` and `list` against an OpenAI-compatible server (vLLM, llama.cpp's
`llama-server`, ollama, another `llamacli serve`), yielding the engine's own events.

The only package that imports httpx; imported lazily, so commands that never talk to a remote do not pay
for it.
"""
