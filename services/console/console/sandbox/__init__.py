""" "Testar o bot": the owner talks to their own bot through the production pipeline."""
