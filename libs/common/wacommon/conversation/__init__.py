"""The conversation's rules: its state machine, the bot's gate, commands, hours, handovers, follow-ups, reminders, lead context."""
