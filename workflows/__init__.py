"""Temporal workflows: one durable case each. Deterministic code only; rules live in `aftersales`."""
