"""Yakuba bots: matrix-nio clients that read encrypted rooms and feed the appservice pipeline."""
