"""The replay lab: a tenant's real customer turns answered again by a candidate configuration."""
