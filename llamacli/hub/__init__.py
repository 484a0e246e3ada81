"""The Hugging Face Hub: file metadata and remote GGUF headers (`metadata`, the only huggingface_hub user)
and resumable, verified downloads (`download`)."""
