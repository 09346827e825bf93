"""The live event stream (`GET /api/events`): broker notifications fanned out per tenant."""
