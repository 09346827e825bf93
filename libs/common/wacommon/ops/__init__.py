"""Operator command lines run against a live deployment: `wa-replay`, legacy credentials, re-sealing secrets."""
