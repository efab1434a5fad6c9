#!/usr/bin/env python3
"""Verifies callbacks with the official Standard Webhooks library (an implementation independent of ours).

stdin: a JSON list of {"secret": "whsec_...", "id": ..., "timestamp": ..., "signature": ..., "body": "..."}
stdout: a JSON list of booleans, one per message, true when the library accepts it.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

results = []
for message in json.load(sys.stdin):
    headers = {
        "webhook-id": message["id"],
        "webhook-timestamp": message["timestamp"],
        "webhook-signature": message["signature"],
    }
    try:
        Webhook(message["secret"]).verify(message["body"], headers)
        results.append(True)
    except WebhookVerificationError:
        results.append(False)
json.dump(results, sys.stdout)
