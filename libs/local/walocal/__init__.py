"""`make run` on a developer's machine: the local set-up and the provider imitations it serves.

Product code (the offline sandbox is the default mode without Meta credentials); the tests
import the imitations from here. May import `wacommon` and `waai`; nothing imports it.
"""
