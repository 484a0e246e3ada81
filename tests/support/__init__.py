"""Test helpers as importable modules (conftest.py only declares fixtures built on them)."""
