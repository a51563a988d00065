"""Kafka: pure topic planning, client configuration and the admin I/O layer."""
