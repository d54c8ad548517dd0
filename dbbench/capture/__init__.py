"""Capture: record the queries a Django process sends (shape, count, time, a sample of instances) to replay them.

``hook`` runs inside the recorded process; ``command`` runs a command with it; ``middleware`` records a sample of a
staging deployment's requests; ``capfile`` writes, merges and reads capture files.
"""
