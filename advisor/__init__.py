"""Compression Advisor."""
