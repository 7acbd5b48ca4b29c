"""SMS to owners (O1, O5) as an adapter: providers behind one interface (providers.py: the embedded outbox,
Aliyun SMS, Tencent Cloud SMS) and the outbox table the case notices are queued in and sent from
(queue.py: quiet hours, the cap per case and day, the opt-out, E3's retries and undeliverable)."""
