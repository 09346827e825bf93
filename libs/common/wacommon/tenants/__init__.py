"""Tenant configuration: typed sections, and the directory every service reads them through."""
