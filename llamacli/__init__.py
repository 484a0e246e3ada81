"""llamacli: run open-weight Llama-family models locally on any CPU."""

__version__ = "0.1.0"
