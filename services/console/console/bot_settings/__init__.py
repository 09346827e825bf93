"""Bot settings: one typed form per section of a tenant's configuration, the history of
changes, and the "test the key" call (the `/api/settings/...` routes and `/configuracoes`)."""
