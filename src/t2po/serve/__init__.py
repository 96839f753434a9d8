"""Servers: an OpenAI-compatible API for a local checkpoint, and the web shop as a website."""
