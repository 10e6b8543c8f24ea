"""The Matrix side: everything that speaks to Synapse.

client.py (client-server API as the appservice, incl. media upload/download), admin.py (the
Synapse admin API), media.py (attachments: download and decrypt), sender.py (routes a message
through the E2EE bot in encrypted rooms), room_roles.py (who moderates a room), txn.py
(deterministic transaction ids), http_server.py (what Synapse calls: transactions, /users,
/rooms, /ping, plus /health and /metrics).

May touch: the network (Synapse), the inbox (the HTTP server commits transactions to it).
Knows nothing of features.
"""
