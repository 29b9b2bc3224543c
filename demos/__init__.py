"""Runnable services that show tzmq, using only its public API."""
