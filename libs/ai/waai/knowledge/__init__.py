"""The tenant's knowledge base: extraction, chunking, storage and retrieval."""
