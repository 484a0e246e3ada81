"""What a model is and where it lives: references (`llama3.2:1b`), the registry (`models.toml`), the local
store of downloaded files, GGUF header inspection, and `locate`, which turns a reference into a file.

It knows no network (that is `hub`) and no llama.cpp (that is `engine`); only `gguf_info` imports `gguf`.
"""
