"""One pydantic model per section of a tenant's configuration, as an owner edits it.

Each model reads the JSON the seed and the admin API wrote (`tools_config` keys, the
`followup_config` column) with the same coercions and defaults the parse helpers applied
before these models existed: numbers may arrive as strings, switches as words ("sim").
Keys a model does not know are kept (legacy tenants) but not typed. A value that cannot be
read falls back to its default, with a logged, counted warning (see `parse_section`).
"""
