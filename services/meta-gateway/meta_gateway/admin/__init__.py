"""Admin API (operator token): tenants, provider instances, knowledge base, conversations."""
