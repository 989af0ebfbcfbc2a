"""CRM sync: a transactional outbox, RQ jobs (or an in-process runner) and CRM adapters."""
