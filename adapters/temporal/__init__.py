"""Temporal adapters: the payload codec, sealed fields, search attributes, namespace setup and the case-number check."""
