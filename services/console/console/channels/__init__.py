"""The channels page (`/canais`): the tenant's provider instances, their health, and the
set-up of each provider (one module per provider, one template section per provider)."""
