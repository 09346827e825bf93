"""LLM responders (OpenAI, Gemini) with tool calling, and the per-tenant configuration."""
