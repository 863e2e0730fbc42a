"""clusterflow.app: the AWS application's logic, called by the thin handlers in `functions/`.

Every logic function takes its boto3 clients as arguments (handlers build them once per container,
tests pass moto clients), so nothing here creates a client at import time.
"""
