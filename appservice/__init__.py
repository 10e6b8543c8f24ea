"""Yakuba application service: transactions, the event pipeline, policies and admin commands."""
