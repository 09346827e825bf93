"""Tools the model can call, enabled per tenant in `tools_config`."""
