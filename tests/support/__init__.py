"""Reusable loopback test servers: SMTP (smtp.py) and HTTP webhooks (http_receiver.py)."""
