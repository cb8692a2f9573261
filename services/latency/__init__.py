"""The latency service that /downstream calls: answers after ?ms=N."""
