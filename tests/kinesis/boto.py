"""boto3 as a Kinesis client for the tests: one JSON command per line on stdin, one JSON answer
per line on stdout. A command is {"call": <boto3 method>, "args": {...}}; a `Data` string in the
arguments is sent as its UTF-8 bytes, and `Data` bytes in answers come back as text.

Usage: boto.py <endpoint URL>
"""

import base64
import json
import sys

import boto3
import botocore.exceptions


def encode_data(value):
    if isinstance(value, dict):
        return {k: (v.encode() if k == "Data" and isinstance(v, str) else encode_data(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [encode_data(v) for v in value]
    return value


def plain(value):
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return value


def main():
    client = boto3.client(
        "kinesis",
        endpoint_url=sys.argv[1],
        region_name="us-east-1",
        aws_access_key_id="runnel",
        aws_secret_access_key="runnel",
    )
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        try:
            answer = getattr(client, command["call"])(**encode_data(command.get("args", {})))
            print(json.dumps({"ok": plain(answer)}), flush=True)
        except botocore.exceptions.ClientError as error:
            print(json.dumps({"error": error.response["Error"]}), flush=True)


main()
