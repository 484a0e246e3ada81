"""Saved conversations: the SQLite database that `chat` writes every turn to and `history` reads."""
