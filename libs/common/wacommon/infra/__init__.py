"""Process plumbing that knows nothing of the product: settings, logging, database, errors, secrets, outgoing-HTTP guard, sandboxed parsing."""
