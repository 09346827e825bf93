"""The sender's own client parts: its Graph connection pools and the sandbox stand-in
(the provider clients live in `wacommon.providers.<provider>.outbound`)."""
