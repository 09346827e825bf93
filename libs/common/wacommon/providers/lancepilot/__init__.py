"""LancePilot: inbound webhooks and outbound client."""
