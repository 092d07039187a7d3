"""The outbox: durable work (``jobs``) written in the transaction that makes it necessary, claimed in
batches by workers that prove they are alive (``workers``), retried with backoff, recovered from
workers that died."""
