"""Provider wire formats: webhook parsers (to the normalised schemas) and media download."""
