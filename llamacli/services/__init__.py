"""Use cases (run, chat, pull, list...): they return results and events and never print."""
