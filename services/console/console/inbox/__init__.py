"""The inbox JSON API: conversations, threads, the attendant's reply and the actions."""
