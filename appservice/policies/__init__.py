"""Policies: one rule per module, each a named unit with its own configuration.

The order here is the order they run in for each event. A policy returns decisions and
touches nothing; see appservice/policy.py for the contract.
"""
