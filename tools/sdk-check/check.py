"""The AWS CLI and boto3 against a running `saga serve`: the Step Functions calls a user makes first.

Usage: check.py ENDPOINT_URL (the `aws` of the same environment is used for the CLI half).

Each client creates an Express state machine, validates a definition, runs the machine with
StartSyncExecution and StartExecution, and tests states with TestState; every answer is checked.
StartSyncExecution's endpoint carries a `sync-` host prefix on AWS, which a local endpoint cannot
answer: boto3 is told not to inject it (inject_host_prefix=False), the CLI through
AWS_DISABLE_HOST_PREFIX_INJECTION=true.
"""

import json
import os
import subprocess
import sys
import uuid

import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::123456789012:role/local"
HELLO = json.dumps(
    {
        "StartAt": "Greet",
        "States": {
            "Greet": {
                "Type": "Pass",
                "Parameters": {"greeting.$": "States.Format('Hello, {}!', $.name)"},
                "End": True,
            }
        },
    }
)
CHOICE_MACHINE = json.dumps(
    {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.cost", "NumericLessThan": 10, "Next": "Cheap"}],
                "Default": "Dear",
            },
            "Cheap": {"Type": "Succeed"},
            "Dear": {"Type": "Fail", "Error": "TooDear"},
        },
    }
)
RETRYING_TASK = json.dumps(
    {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "charge", "Payload.$": "$"},
        "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": 3}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Refund"}],
        "End": True,
    }
)
INVALID = json.dumps({"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "End": True}}})


def expect(label, actual, wanted):
    if actual != wanted:
        sys.exit(f"{label}: expected {wanted!r}, got {actual!r}")
    print(f"ok  {label}")


def check_boto3(endpoint):
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
    )
    name = f"boto3-{uuid.uuid4().hex[:8]}"
    arn = sfn.create_state_machine(name=name, definition=HELLO, roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
    expect("boto3 create_state_machine", arn.endswith(f":stateMachine:{name}"), True)

    valid = sfn.validate_state_machine_definition(definition=HELLO)
    expect("boto3 validate (valid)", valid["result"], "OK")
    invalid = sfn.validate_state_machine_definition(definition=INVALID)
    expect("boto3 validate (invalid)", invalid["result"], "FAIL")
    expect("boto3 validate diagnostic", invalid["diagnostics"][0]["code"], "MISSING_TRANSITION_TARGET")

    run = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({"name": "Ada"}))
    expect("boto3 start_sync_execution status", run["status"], "SUCCEEDED")
    expect("boto3 start_sync_execution output", json.loads(run["output"]), {"greeting": "Hello, Ada!"})

    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"name": "Grace"}))
    expect("boto3 start_execution arn", f":express:{name}:" in started["executionArn"], True)

    tested = sfn.test_state(
        definition=CHOICE_MACHINE, stateName="Check", input=json.dumps({"cost": 12}), inspectionLevel="DEBUG"
    )
    expect("boto3 test_state status", tested["status"], "SUCCEEDED")
    expect("boto3 test_state nextState", tested["nextState"], "Dear")
    expect("boto3 test_state afterInputPath", json.loads(tested["inspectionData"]["afterInputPath"]), {"cost": 12})

    retried = sfn.test_state(
        definition=RETRYING_TASK,
        input=json.dumps({"order": 1}),
        mock={"errorOutput": {"error": "Boom", "cause": "card declined"}},
        stateConfiguration={"retrierRetryCount": 1},
        inspectionLevel="TRACE",
    )
    expect("boto3 test_state retriable", retried["status"], "RETRIABLE")
    expect(
        "boto3 test_state errorDetails",
        retried["inspectionData"]["errorDetails"],
        {"retryBackoffIntervalSeconds": 6, "retryIndex": 0},
    )
    caught = sfn.test_state(
        definition=RETRYING_TASK,
        input=json.dumps({"order": 1}),
        mock={"errorOutput": {"error": "Other", "cause": "no"}},
    )
    expect("boto3 test_state caught", (caught["status"], caught["nextState"]), ("CAUGHT_ERROR", "Refund"))
    expect("boto3 test_state caught output", json.loads(caught["output"]), {"order": 1, "error": {"Error": "Other", "Cause": "no"}})

    try:
        sfn.test_state(definition=json.dumps({"Type": "Pass", "End": True}), mock={"result": "{}"})
        sys.exit("boto3 test_state: a mocked Pass state was accepted")
    except sfn.exceptions.ValidationException as e:
        expect(
            "boto3 test_state refusal",
            e.response["Error"]["Message"],
            "State type 'Pass' is not supported when a mock is specified",
        )


def aws(endpoint, *args):
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_DISABLE_HOST_PREFIX_INJECTION="true",
        AWS_MAX_ATTEMPTS="1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    cli = os.path.join(os.path.dirname(sys.executable), "aws")
    out = subprocess.run(
        [cli, "stepfunctions", *args, "--endpoint-url", endpoint, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"aws stepfunctions {args[0]} failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def check_cli(endpoint):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = aws(
        endpoint, "create-state-machine", "--name", name, "--definition", HELLO, "--role-arn", ROLE, "--type", "EXPRESS"
    )
    arn = created["stateMachineArn"]
    expect("aws create-state-machine", arn.endswith(f":stateMachine:{name}"), True)

    expect("aws validate-state-machine-definition", aws(endpoint, "validate-state-machine-definition", "--definition", HELLO)["result"], "OK")

    run = aws(endpoint, "start-sync-execution", "--state-machine-arn", arn, "--input", json.dumps({"name": "Ada"}))
    expect("aws start-sync-execution status", run["status"], "SUCCEEDED")
    expect("aws start-sync-execution output", json.loads(run["output"]), {"greeting": "Hello, Ada!"})

    started = aws(endpoint, "start-execution", "--state-machine-arn", arn, "--input", json.dumps({"name": "Grace"}))
    expect("aws start-execution arn", f":express:{name}:" in started["executionArn"], True)

    tested = aws(
        endpoint,
        "test-state",
        "--definition",
        CHOICE_MACHINE,
        "--state-name",
        "Check",
        "--input",
        json.dumps({"cost": 3}),
        "--inspection-level",
        "INFO",
    )
    expect("aws test-state", (tested["status"], tested["nextState"]), ("SUCCEEDED", "Cheap"))
    expect("aws test-state no inspectionData at INFO", "inspectionData" in tested, False)

    retried = aws(
        endpoint,
        "test-state",
        "--definition",
        RETRYING_TASK,
        "--mock",
        json.dumps({"errorOutput": {"error": "Boom", "cause": "card declined"}}),
        "--state-configuration",
        json.dumps({"retrierRetryCount": 0}),
        "--inspection-level",
        "DEBUG",
    )
    expect("aws test-state retriable", retried["status"], "RETRIABLE")
    expect("aws test-state back-off", retried["inspectionData"]["errorDetails"]["retryBackoffIntervalSeconds"], 2)


def main():
    endpoint = sys.argv[1]
    check_boto3(endpoint)
    check_cli(endpoint)
    print("the AWS CLI and boto3 got the answers AWS gives")


if __name__ == "__main__":
    main()
