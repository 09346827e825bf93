"""Tenant configuration: typed sections, and the directory every service reads them through."""

from wacommon.tenants.config import TenantConfig, parse_tenant
from wacommon.tenants.directory import PgTenantDirectory, TenantDirectory

__all__ = ["PgTenantDirectory", "TenantConfig", "TenantDirectory", "parse_tenant"]
