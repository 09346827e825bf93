"""The web console: sign-in, roles and the inbox where people answer handed-over conversations."""
