"""Laboratório de respostas: a new prompt tried on real conversations, nothing sent."""
