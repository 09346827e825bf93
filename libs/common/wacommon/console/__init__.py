"""What the console and the operator's admin API share: accounts, passwords, Meta's Embedded Signup."""
