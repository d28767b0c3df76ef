"""Test servers on 127.0.0.1: an OpenAI-compatible chat API and a JSON oracle endpoint."""
