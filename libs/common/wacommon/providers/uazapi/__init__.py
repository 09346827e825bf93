"""Uazapi: inbound webhooks, outbound client, message content and media."""
