"""The AI layer: LLM clients and settings, knowledge, responders, tools and reply formatting.

Services (rag-worker, followup, meta-gateway's admin) import from here; this package imports
`wacommon` and nothing of a service (tests/unit/test_import_rules.py checks it).
"""
