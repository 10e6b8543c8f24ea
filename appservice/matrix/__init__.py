"""Calls to Synapse: the client-server API as the appservice (client.py) and the admin API (admin.py)."""
