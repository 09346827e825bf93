"""Responders: implementations of the `Responder` port."""
