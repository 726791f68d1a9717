"""Creates an IAM user in a moto server allowed exactly the given actions,
on every resource (moto checks actions only: it ignores conditions, and a
policy must name "*" to allow anything), and prints its access key as
"KEY SECRET". For tests/it/rights.rs, on a moto server of its own.

Usage: iam_user.py ENDPOINT NAME ACTION...
"""

import json
import sys

import boto3

endpoint, name, actions = sys.argv[1], sys.argv[2], sys.argv[3:]
iam = boto3.client(
    "iam",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
iam.create_user(UserName=name)
policy = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
}
iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName=name)["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
