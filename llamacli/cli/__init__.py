"""The command-line layer: Typer commands and terminal rendering. The only layer that prints."""
