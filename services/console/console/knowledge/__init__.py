"""The owner's knowledge base: documents, the ask box, Gemini File Search."""
