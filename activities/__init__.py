"""Temporal activities: all I/O of the case workflows (database, SMTP, webhooks)."""
