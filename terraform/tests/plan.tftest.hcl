# Offline checks of the deployment: a mocked AWS provider, no credentials, no Lambda zips.
# `command = apply` against the mock gives every computed attribute (ARNs, URLs) a value, so the rendered
# workflow and templates can be inspected whole.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:mock" }
  }
  mock_resource "aws_sfn_state_machine" {
    defaults = { arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:mock" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:mock"
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/mock"
    }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/mock" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:mock" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/mock" }
  }
  mock_resource "aws_iam_policy" {
    defaults = { arn = "arn:aws:iam::123456789012:policy/mock" }
  }
  mock_resource "aws_api_gateway_rest_api" {
    defaults = { execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:mock" }
  }
}

# One ARN per table, so that the rendered IAM policies say which table each grant is on.
override_resource {
  target = aws_dynamodb_table.orders
  values = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders" }
}
override_resource {
  target = aws_dynamodb_table.inventory
  values = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/inventory" }
}
override_resource {
  target = aws_dynamodb_table.reservations
  values = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/reservations" }
}
override_resource {
  target = aws_dynamodb_table.idempotency
  values = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/idempotency" }
}
# One ARN per function, so that the rendered definition shows which function each Task invokes.
override_resource {
  target = aws_lambda_function.fn["create-order"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:create-order" }
}
override_resource {
  target = aws_lambda_function.fn["reserve-stock"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:reserve-stock" }
}
override_resource {
  target = aws_lambda_function.fn["confirm-order"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:confirm-order" }
}
override_resource {
  target = aws_lambda_function.fn["fence-order"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:fence-order" }
}
override_resource {
  target = aws_lambda_function.fn["release-stock"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:release-stock" }
}
override_resource {
  target = aws_lambda_function.fn["cancel-order"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:cancel-order" }
}
override_resource {
  target = aws_lambda_function.fn["repair-worker"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:repair-worker" }
}
override_resource {
  target = aws_lambda_function.fn["order-sweeper"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:order-sweeper" }
}

variables {
  # Relative to the directory `terraform test` runs in (terraform/).
  workflow_file = "../workflow.asl.json"

  # The data calls each function makes, read from functions/*/src and crates/saga-store-dynamodb (iam_lambda.tf
  # says which store operation needs which action), as "<action> <table>".
  expected_data_grants = {
    "create-order" = [
      "dynamodb:GetItem idempotency", "dynamodb:PutItem idempotency",
      "dynamodb:GetItem orders", "dynamodb:PutItem orders",
    ]
    "reserve-stock" = [
      "dynamodb:GetItem reservations", "dynamodb:PutItem reservations",
      "dynamodb:GetItem inventory", "dynamodb:UpdateItem inventory",
    ]
    "confirm-order" = ["dynamodb:GetItem orders", "dynamodb:UpdateItem orders"]
    "fence-order"   = ["dynamodb:GetItem orders", "dynamodb:UpdateItem orders"]
    "release-stock" = [
      "dynamodb:GetItem reservations", "dynamodb:PutItem reservations", "dynamodb:UpdateItem reservations",
      "dynamodb:GetItem inventory", "dynamodb:UpdateItem inventory",
    ]
    "cancel-order" = ["dynamodb:GetItem orders", "dynamodb:PutItem orders", "dynamodb:UpdateItem orders"]
    "repair-worker" = [
      "dynamodb:GetItem reservations", "dynamodb:PutItem reservations", "dynamodb:UpdateItem reservations",
      "dynamodb:GetItem inventory", "dynamodb:UpdateItem inventory",
      "dynamodb:GetItem orders", "dynamodb:PutItem orders", "dynamodb:UpdateItem orders",
      "sqs:ReceiveMessage repair", "sqs:DeleteMessage repair", "sqs:GetQueueAttributes repair", "sqs:ChangeMessageVisibility repair",
    ]
    "order-sweeper" = [
      "dynamodb:GetItem reservations", "dynamodb:PutItem reservations", "dynamodb:UpdateItem reservations",
      "dynamodb:GetItem inventory", "dynamodb:UpdateItem inventory",
      "dynamodb:Query orders/index/status-createdAt",
      "dynamodb:GetItem orders", "dynamodb:PutItem orders", "dynamodb:UpdateItem orders",
    ]
  }
}

run "defaults" {
  command = apply

  assert {
    condition     = aws_sfn_state_machine.order_saga.type == "EXPRESS"
    error_message = "The state machine must be an Express workflow (StartSyncExecution works only on Express)."
  }

  assert {
    condition     = endswith(aws_api_gateway_integration.create_order.uri, ":states:action/StartSyncExecution")
    error_message = "POST /orders must integrate with states:action/StartSyncExecution (StartExecution is asynchronous)."
  }

  assert {
    condition     = aws_api_gateway_integration.create_order.type == "AWS" && aws_api_gateway_integration.create_order.integration_http_method == "POST"
    error_message = "POST /orders must be an AWS service integration called with POST."
  }

  assert {
    condition     = aws_api_gateway_integration.create_order.timeout_milliseconds == 29000
    error_message = "The StartSyncExecution integration must wait the REST API maximum of 29 s."
  }

  assert {
    condition     = aws_api_gateway_integration.create_order.timeout_milliseconds > jsondecode(file(var.workflow_file)).TimeoutSeconds * 1000
    error_message = "The integration timeout must exceed the workflow's top-level TimeoutSeconds, so the workflow gives up first."
  }

  # Every Task of the deployed definition that invokes a Lambda, whichever Tasks those are: a Lambda that outlives
  # its Task keeps writing after Step Functions has moved on to the retry or the compensation.
  assert {
    condition = alltrue([
      for name, state in jsondecode(aws_sfn_state_machine.order_saga.definition).States :
      length([
        for fn, f in aws_lambda_function.fn : fn
        if f.arn == state.Parameters.FunctionName && f.timeout <= state.TimeoutSeconds
      ]) == 1
      if state.Type == "Task" && can(state.Parameters.FunctionName)
    ])
    error_message = "Every Task that invokes a Lambda must name one deployed function whose timeout is at most the Task's TimeoutSeconds."
  }

  assert {
    condition     = !strcontains(aws_sfn_state_machine.order_saga.definition, "$${")
    error_message = "The rendered workflow definition still contains a $${...} placeholder."
  }

  assert {
    condition     = !strcontains(aws_sfn_state_machine.order_saga.definition, "%%{")
    error_message = "The rendered workflow definition contains a template directive."
  }

  assert {
    condition = alltrue([
      for state, fn in {
        "CreateOrder"  = "create-order"
        "ReserveStock" = "reserve-stock"
        "ConfirmOrder" = "confirm-order"
        "FenceOrder"   = "fence-order"
        "ReleaseStock" = "release-stock"
        "CancelOrder"  = "cancel-order"
      } : jsondecode(aws_sfn_state_machine.order_saga.definition).States[state].Parameters.FunctionName == aws_lambda_function.fn[fn].arn
    ])
    error_message = "Every saga Task must invoke its own deployed function."
  }

  assert {
    condition     = jsondecode(aws_sfn_state_machine.order_saga.definition).States.EnqueueRepair.Parameters.QueueUrl == aws_sqs_queue.repair.url
    error_message = "EnqueueRepair must send to the repair queue."
  }

  assert {
    condition = (
      jsondecode(aws_sfn_state_machine.order_saga.definition).States.PrepareOrder.Parameters["orderId.$"] == "$$.Execution.Name" &&
      jsondecode(aws_sfn_state_machine.order_saga.definition).States.ProblemBadGateway.Parameters["detail.$"] == jsondecode(file(var.workflow_file)).States.ProblemBadGateway.Parameters["detail.$"]
    )
    error_message = "JSONPath and States.Format strings must survive templatefile unchanged."
  }

  assert {
    condition     = aws_sfn_state_machine.order_saga.logging_configuration[0].level == "ALL" && aws_sfn_state_machine.order_saga.tracing_configuration[0].enabled
    error_message = "The state machine must log at level ALL and trace with X-Ray."
  }

  assert {
    condition     = startswith(aws_cloudwatch_log_group.state_machine.name, "/aws/vendedlogs/states/")
    error_message = "The state machine's log group must live under /aws/vendedlogs/states/."
  }

  # Fault injection is off by default: the rendered request template never reads the header.
  assert {
    condition     = !strcontains(lower(aws_api_gateway_integration.create_order.request_templates["application/json"]), "x-saga-fault")
    error_message = "With enable_fault_injection = false the request template must not read X-Saga-Fault."
  }

  assert {
    condition     = strcontains(aws_api_gateway_integration.create_order.request_templates["application/json"], "\\\"faults\\\":null,")
    error_message = "With enable_fault_injection = false the request template must send faults = null."
  }

  assert {
    condition     = strcontains(aws_api_gateway_integration.create_order.request_templates["application/json"], aws_sfn_state_machine.order_saga.arn)
    error_message = "The request template must name the deployed state machine."
  }

  assert {
    condition = alltrue([
      for t in [
        aws_api_gateway_integration.create_order.request_templates["application/json"],
        aws_api_gateway_integration.get_order.request_templates["application/json"],
        aws_api_gateway_integration.get_inventory.request_templates["application/json"],
        aws_api_gateway_integration.put_inventory.request_templates["application/json"],
      ] : !strcontains(t, "$${")
    ])
    error_message = "A request template still contains a Terraform placeholder."
  }

  assert {
    condition     = aws_api_gateway_model.create_order_request.schema == file("../schemas/order-request.schema.json")
    error_message = "The request model must be the repository's order-request schema, the one the local server uses."
  }

  assert {
    condition     = aws_api_gateway_method.put_inventory.authorization == "AWS_IAM"
    error_message = "PUT /inventory/{sku} must require IAM (SigV4) authorisation."
  }

  # No IAM action wildcard anywhere (resource "*" is allowed only where AWS requires it, and commented there).
  assert {
    condition = alltrue(flatten([
      for p in concat(
        [for k, v in aws_iam_role_policy.fn : v.policy],
        [for k, v in aws_iam_role_policy.api_integration : v.policy],
        [aws_iam_role_policy.state_machine.policy, aws_iam_policy.inventory_writer.policy],
        ) : [
        for st in jsondecode(p).Statement : [for a in flatten([st.Action]) : !strcontains(a, "*")]
      ]
    ]))
    error_message = "An IAM policy grants a wildcard action."
  }

  # API Gateway sends no aws:SourceAccount/aws:SourceArn when it assumes an integration role (iam_api.tf), so
  # any Condition there denies the AssumeRole and every route answers 500.
  assert {
    condition = alltrue([
      for r in [aws_iam_role.api_start_execution, aws_iam_role.api_orders_read, aws_iam_role.api_inventory_read, aws_iam_role.api_inventory_write] :
      alltrue([
        for st in jsondecode(r.assume_role_policy).Statement :
        st.Principal.Service == "apigateway.amazonaws.com" && !contains(keys(st), "Condition")
      ])
    ])
    error_message = "An API Gateway integration role's trust policy has a Condition; API Gateway would be denied the AssumeRole."
  }

  # The account-wide CloudWatch role: UpdateAccount checks it by writing to /aws/apigateway/welcome, and it serves
  # every API in the Region, so it carries AWS's managed policy and a trust policy API Gateway can satisfy.
  assert {
    condition = (
      length(aws_iam_role_policy_attachment.api_gateway_cloudwatch) == 1 &&
      aws_iam_role_policy_attachment.api_gateway_cloudwatch[0].policy_arn == "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs" &&
      aws_iam_role_policy_attachment.api_gateway_cloudwatch[0].role == aws_iam_role.api_gateway_cloudwatch[0].name &&
      aws_api_gateway_account.api[0].cloudwatch_role_arn == aws_iam_role.api_gateway_cloudwatch[0].arn
    )
    error_message = "The API Gateway account role must carry AmazonAPIGatewayPushToCloudWatchLogs and be the account's cloudwatch_role_arn."
  }

  assert {
    condition = alltrue([
      for st in jsondecode(aws_iam_role.api_gateway_cloudwatch[0].assume_role_policy).Statement :
      st.Principal.Service == "apigateway.amazonaws.com" && !contains(keys(st), "Condition")
    ])
    error_message = "The API Gateway CloudWatch role's trust policy has a Condition; UpdateAccount would refuse the role."
  }

  # Step Functions and Lambda document aws:SourceAccount for their roles: keep it there.
  assert {
    condition = alltrue(concat(
      [for st in jsondecode(aws_iam_role.state_machine.assume_role_policy).Statement : st.Condition.StringEquals["aws:SourceAccount"] == "123456789012"],
      flatten([for fn, r in aws_iam_role.fn : [for st in jsondecode(r.assume_role_policy).Statement : st.Condition.StringEquals["aws:SourceAccount"] == "123456789012"]]),
    ))
    error_message = "The state machine and Lambda roles must trust their service only for this account (aws:SourceAccount)."
  }

  # Each function may make exactly the data calls its code makes: release() reads stock in diagnose() (release-stock,
  # repair-worker, order-sweeper), and reserve-stock never reads orders.
  assert {
    condition = alltrue([
      for fn, expected in var.expected_data_grants : sort(distinct(flatten([
        for st in jsondecode(aws_iam_role_policy.fn[fn].policy).Statement : [
          for a in flatten([st.Action]) : [
            for r in flatten([st.Resource]) : "${a} ${replace(replace(r, "arn:aws:dynamodb:eu-west-1:123456789012:table/", ""), "arn:aws:sqs:eu-west-1:123456789012:mock", "repair")}"
          ]
        ] if startswith(st.Sid, "Data")
      ]))) == sort(expected)
    ]) && length(var.expected_data_grants) == length(aws_iam_role_policy.fn)
    error_message = "A function's DynamoDB or SQS grants differ from the calls its code makes (expected_data_grants)."
  }

  assert {
    condition = alltrue(flatten([
      for k, v in aws_iam_role_policy.fn : [
        for st in jsondecode(v.policy).Statement : st.Resource != "*" || alltrue([for a in flatten([st.Action]) : startswith(a, "xray:")])
      ]
    ]))
    error_message = "A Lambda role uses resource \"*\" for something other than X-Ray."
  }

  assert {
    condition = alltrue([
      for fn, f in aws_lambda_function.fn :
      f.runtime == "provided.al2023" && f.handler == "bootstrap" && f.architectures == tolist(["arm64"]) &&
      f.tracing_config[0].mode == "Active" && f.logging_config[0].log_format == "JSON"
    ])
    error_message = "Every function must be provided.al2023/arm64, handler bootstrap, X-Ray active, JSON logs."
  }

  assert {
    condition = alltrue([
      for fn, f in aws_lambda_function.fn : alltrue([
        for name in ["ORDERS_TABLE", "INVENTORY_TABLE", "RESERVATIONS_TABLE", "IDEMPOTENCY_TABLE", "IDEMPOTENCY_TTL_SECONDS"] :
        contains(keys(f.environment[0].variables), name)
      ])
    ])
    error_message = "A function lacks one of the table or setting environment variables."
  }

  # Under the JSON log format the level comes from logging_config (Lambda's AWS_LAMBDA_LOG_LEVEL); a RUST_LOG in the
  # environment would override it inside the function, so by default there is none.
  assert {
    condition = alltrue([
      for fn, f in aws_lambda_function.fn :
      f.logging_config[0].application_log_level == "INFO" && f.logging_config[0].system_log_level == "INFO" &&
      !contains(keys(f.environment[0].variables), "RUST_LOG")
    ])
    error_message = "Every function must log at application and system level INFO from logging_config, without RUST_LOG."
  }

  assert {
    condition     = aws_lambda_function.fn["order-sweeper"].environment[0].variables.SWEEP_AFTER_SECONDS == "120" && aws_lambda_function.fn["create-order"].environment[0].variables.IDEMPOTENCY_TTL_SECONDS == "86400"
    error_message = "SWEEP_AFTER_SECONDS and IDEMPOTENCY_TTL_SECONDS must carry their defaults."
  }

  assert {
    condition     = !contains(keys(aws_lambda_function.fn["create-order"].environment[0].variables), "SWEEP_AFTER_SECONDS")
    error_message = "SWEEP_AFTER_SECONDS belongs to the order sweeper only."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.repair.function_response_types == toset(["ReportBatchItemFailures"])
    error_message = "The repair worker must report partial batch failures."
  }

  assert {
    condition     = aws_sqs_queue.repair.visibility_timeout_seconds >= 6 * aws_lambda_function.fn["repair-worker"].timeout
    error_message = "The repair queue's visibility timeout must be at least six times the repair worker's timeout."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue.repair.redrive_policy).maxReceiveCount == 5
    error_message = "The repair queue must move a message to the DLQ after 5 receives."
  }

  # POST /orders is throttled to what a new account's Lambda concurrency quota of 10 can serve: 7 instances for
  # sagas (3 stay for the repair worker and the sweeper) at 0.5 s of Lambda time per saga (api_stage.tf).
  assert {
    condition = (
      aws_api_gateway_method_settings.create_order.method_path == "orders/POST" &&
      aws_api_gateway_method_settings.create_order.settings[0].throttling_rate_limit == 14 &&
      aws_api_gateway_method_settings.create_order.settings[0].throttling_burst_limit == 7
    )
    error_message = "POST /orders must be throttled to 14 requests/s, burst 7, for the default Lambda concurrency quota of 10."
  }

  assert {
    condition = (
      aws_api_gateway_method_settings.create_order.settings[0].throttling_rate_limit * 5 * 100 <= (10 - 3) * 1000 &&
      aws_api_gateway_method_settings.create_order.settings[0].throttling_burst_limit <= 10 - 3 &&
      aws_lambda_event_source_mapping.repair.scaling_config[0].maximum_concurrency == 2
    )
    error_message = "The POST /orders throttle, the repair worker's concurrency and the sweeper must fit in a Lambda concurrency quota of 10."
  }

  assert {
    condition = (
      aws_api_gateway_method_settings.all.method_path == "*/*" &&
      aws_api_gateway_method_settings.all.settings[0].throttling_rate_limit == 50 &&
      aws_api_gateway_method_settings.all.settings[0].throttling_burst_limit == 100
    )
    error_message = "The DynamoDB routes keep the stage-wide throttle of 50 requests/s, burst 100."
  }

  assert {
    condition     = aws_cloudwatch_event_rule.sweeper.schedule_expression == "rate(1 minute)"
    error_message = "The order sweeper must run every minute."
  }

  # API Gateway would create the execution log group itself, without retention or KMS: it is managed here instead,
  # under the exact name API Gateway writes to, and the stack key's policy must cover it.
  assert {
    condition = (
      aws_cloudwatch_log_group.api_execution.name == "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.api.id}/${aws_api_gateway_stage.api.stage_name}" &&
      aws_cloudwatch_log_group.api_execution.retention_in_days == 365 &&
      aws_cloudwatch_log_group.api_execution.kms_key_id == aws_kms_key.main.arn
    )
    error_message = "The stage's execution log group must be API-Gateway-Execution-Logs_{api id}/{stage}, with the stack's retention and KMS key."
  }

  assert {
    condition = anytrue([
      for st in jsondecode(aws_kms_key.main.policy).Statement :
      st.Principal == { Service = "logs.eu-west-1.amazonaws.com" } &&
      can(regex(
        "^${replace(st.Condition.ArnLike["kms:EncryptionContext:aws:logs:arn"], "*", ".*")}$",
        "arn:aws:logs:eu-west-1:123456789012:log-group:${aws_cloudwatch_log_group.api_execution.name}"
      ))
    ])
    error_message = "The stack key's policy must let CloudWatch Logs encrypt the API execution log group."
  }

  # The next scheduled run is the sweeper's retry; Lambda's own two async retries would overlap it.
  assert {
    condition = (
      aws_lambda_function_event_invoke_config.sweeper.function_name == aws_lambda_function.fn["order-sweeper"].function_name &&
      aws_lambda_function_event_invoke_config.sweeper.maximum_retry_attempts == 0 &&
      aws_lambda_function_event_invoke_config.sweeper.maximum_event_age_in_seconds == 60
    )
    error_message = "The order sweeper's asynchronous invocations must not be retried by Lambda (0 retries, events at most 60 s old)."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.executions_timed_out.threshold == 0 && aws_cloudwatch_metric_alarm.repair_dlq_not_empty.threshold == 0
    error_message = "Any timed-out execution and any DLQ message must alarm."
  }

  assert {
    condition = alltrue([
      for t in [aws_dynamodb_table.orders, aws_dynamodb_table.inventory, aws_dynamodb_table.reservations, aws_dynamodb_table.idempotency] :
      t.billing_mode == "PAY_PER_REQUEST" && t.point_in_time_recovery[0].enabled && t.server_side_encryption[0].enabled
    ])
    error_message = "Every table must be on-demand, with PITR and SSE."
  }

  assert {
    condition     = aws_dynamodb_table.idempotency.ttl[0].attribute_name == "expiresAt" && aws_dynamodb_table.idempotency.ttl[0].enabled
    error_message = "The idempotency table must expire keys on expiresAt."
  }

  assert {
    condition = anytrue([
      for g in aws_dynamodb_table.orders.global_secondary_index :
      g.name == "status-createdAt" && g.hash_key == "status" && g.range_key == "createdAt" && g.projection_type == "ALL"
    ])
    error_message = "The orders table needs the status-createdAt index the sweeper queries."
  }

  assert {
    condition = alltrue([
      for k, r in aws_api_gateway_gateway_response.problem :
      r.response_parameters["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
    ])
    error_message = "Every gateway response must be application/problem+json."
  }
  # Gateway responses are not VTL: only $context values are substituted, so each template must be JSON once
  # messageString (a quoted string) and validationErrorString (unquoted text) are filled in.
  assert {
    condition = alltrue([
      for k, r in aws_api_gateway_gateway_response.problem : can(jsondecode(replace(replace(
        r.response_templates["application/json"],
        "$context.error.messageString", "\"Missing Authentication Token\""),
        "$context.error.validationErrorString", "[object has missing required properties ([\\\"items\\\"])]"
      )))
    ])
    error_message = "A gateway response template is not JSON once its $context values are substituted."
  }

  assert {
    condition = alltrue([
      for k, r in aws_api_gateway_gateway_response.problem :
      jsondecode(replace(replace(r.response_templates["application/json"], "$context.error.messageString", "\"m\""), "$context.error.validationErrorString", "v")).compensation == "not-needed"
      if startswith(coalesce(r.status_code, k == "DEFAULT_5XX" ? "5" : "4"), "4")
    ])
    error_message = "The gateway's own 4xx answers started no execution: compensation must be not-needed."
  }

  assert {
    condition     = aws_api_gateway_gateway_response.problem["BAD_REQUEST_BODY"].status_code == "400"
    error_message = "An invalid body must answer 400."
  }

  # An integration role API Gateway cannot assume fails every call before anything starts.
  assert {
    condition = (
      aws_api_gateway_gateway_response.problem["API_CONFIGURATION_ERROR"].status_code == "500" &&
      jsondecode(replace(aws_api_gateway_gateway_response.problem["API_CONFIGURATION_ERROR"].response_templates["application/json"], "$context.error.messageString", "\"m\"")).compensation == "not-needed" &&
      jsondecode(replace(aws_api_gateway_gateway_response.problem["DEFAULT_5XX"].response_templates["application/json"], "$context.error.messageString", "\"m\"")).compensation == "pending"
    )
    error_message = "API_CONFIGURATION_ERROR started no execution (compensation not-needed); other gateway 5xx may have (pending)."
  }

  # The execution name is the order id: Step Functions must choose it, not $context.requestId, which a client can
  # set with x-amzn-RequestId.
  assert {
    condition = (
      !strcontains(aws_api_gateway_integration.create_order.request_templates["application/json"], "\n  \"name\"") &&
      strcontains(aws_api_gateway_integration.create_order.request_templates["application/json"], "\\\"requestId\\\":\\\"$context.requestId\\\"")
    )
    error_message = "The StartSyncExecution request must not name the execution; the request id is only a correlation field."
  }
}

# `cargo build-lambdas` (.cargo/config.toml) must build exactly the zips Terraform deploys: a function missing from
# either side is a failed apply (no zip) or a zip nobody deploys. The crates under functions/ are the third list.
run "build_command_matches_functions" {
  command = plan

  variables {
    cargo_config = file("../.cargo/config.toml")
  }

  assert {
    condition     = sort(flatten(regexall("\"-p\",\\s*\"([A-Za-z0-9_-]+)\"", var.cargo_config))) == sort(keys(aws_lambda_function.fn))
    error_message = "The packages of the lambda-zips alias in .cargo/config.toml differ from the functions Terraform deploys (local.function_timeouts)."
  }

  assert {
    condition     = sort([for f in fileset("../functions", "*/Cargo.toml") : dirname(f)]) == sort(keys(aws_lambda_function.fn))
    error_message = "The crates under functions/ differ from the functions Terraform deploys (local.function_timeouts)."
  }

  # cargo-lambda writes target/lambda/<binary>/bootstrap.zip: each function's binary must carry its own name.
  assert {
    condition = alltrue([
      for fn in keys(aws_lambda_function.fn) : alltrue([
        for n in flatten(regexall("(?m)^name\\s*=\\s*\"([^\"]+)\"", file("../functions/${fn}/Cargo.toml"))) : n == fn
      ])
    ])
    error_message = "A function crate's package or [[bin]] name differs from its directory, so its zip would not be at <function>/bootstrap.zip."
  }

  assert {
    condition     = alltrue([for fn, f in aws_lambda_function.fn : endswith(f.filename, "/${fn}/bootstrap.zip")])
    error_message = "Terraform must read each function's zip from <lambda_zip_dir>/<function>/bootstrap.zip, where cargo-lambda writes it."
  }

  assert {
    condition = alltrue([
      for flag in ["\"lambda\", \"build\", \"--release\", \"--output-format\", \"zip\"", "build-lambdas = [\"lambda-zips\", \"--arm64\"]"] :
      strcontains(var.cargo_config, flag)
    ])
    error_message = "cargo build-lambdas must build release zips for arm64, the default lambda_architecture."
  }
}

run "fault_injection_enabled" {
  command = apply

  variables {
    enable_fault_injection = true
  }

  assert {
    condition     = strcontains(lower(aws_api_gateway_integration.create_order.request_templates["application/json"]), "x-saga-fault")
    error_message = "With enable_fault_injection = true the request template must forward X-Saga-Fault."
  }
}

run "api_gateway_account_managed_elsewhere" {
  command = plan

  variables {
    manage_api_gateway_account = false
  }

  assert {
    condition = (
      length(aws_iam_role.api_gateway_cloudwatch) == 0 &&
      length(aws_iam_role_policy_attachment.api_gateway_cloudwatch) == 0 &&
      length(aws_api_gateway_account.api) == 0
    )
    error_message = "With manage_api_gateway_account = false the stack must leave the account's CloudWatch role setting alone."
  }
}

run "raised_lambda_concurrency_quota" {
  command = plan

  variables {
    lambda_concurrency_quota = 1000
  }

  assert {
    condition = (
      aws_api_gateway_method_settings.create_order.settings[0].throttling_rate_limit == 1994 &&
      aws_api_gateway_method_settings.create_order.settings[0].throttling_burst_limit == 997
    )
    error_message = "The POST /orders throttle must follow lambda_concurrency_quota: (1000 - 3) / 0.5 s = 1994 requests/s, burst 997."
  }
}

run "explicit_order_throttle" {
  command = plan

  variables {
    order_throttling_rate_limit  = 3
    order_throttling_burst_limit = 5
  }

  assert {
    condition = (
      aws_api_gateway_method_settings.create_order.settings[0].throttling_rate_limit == 3 &&
      aws_api_gateway_method_settings.create_order.settings[0].throttling_burst_limit == 5
    )
    error_message = "order_throttling_rate_limit and order_throttling_burst_limit must override the derived throttle."
  }
}

run "lambda_concurrency_quota_too_small" {
  command = plan

  variables {
    lambda_concurrency_quota = 3
  }

  expect_failures = [var.lambda_concurrency_quota]
}

run "lambda_log_levels" {
  command = plan

  variables {
    lambda_log_level        = "DEBUG"
    lambda_system_log_level = "WARN"
    rust_log                = "info,aws_smithy_runtime=debug"
  }

  assert {
    condition = alltrue([
      for fn, f in aws_lambda_function.fn :
      f.logging_config[0].application_log_level == "DEBUG" && f.logging_config[0].system_log_level == "WARN" &&
      f.environment[0].variables.RUST_LOG == "info,aws_smithy_runtime=debug"
    ])
    error_message = "lambda_log_level, lambda_system_log_level and rust_log must reach every function."
  }
}

run "lambda_log_level_above_info" {
  command = plan

  variables {
    lambda_log_level = "WARN"
  }

  expect_failures = [var.lambda_log_level]
}

run "x86_64_build" {
  command = plan

  variables {
    lambda_architecture = "x86_64"
  }

  assert {
    condition     = alltrue([for fn, f in aws_lambda_function.fn : f.architectures == tolist(["x86_64"])])
    error_message = "lambda_architecture must reach every function."
  }
}

run "sweep_must_outlast_the_workflow" {
  command = plan

  variables {
    sweep_after_seconds = 20
  }

  expect_failures = [var.sweep_after_seconds]
}
