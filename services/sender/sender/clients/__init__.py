"""Provider clients used by the sender."""
