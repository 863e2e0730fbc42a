"""Stand-in reaper: returns what it was given."""


def lambda_handler(event, context):
    return {"reaped": [], "source": event.get("source")}
