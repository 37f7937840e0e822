# Eight Rust functions built by cargo-lambda. The six saga tasks are invoked by the state machine; the repair
# worker drains the repair queue; the order sweeper runs every minute and compensates orders left PENDING.

resource "aws_cloudwatch_log_group" "fn" {
  for_each = local.function_names

  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "fn" {
  for_each = local.function_timeouts
  # checkov:skip=CKV_AWS_117:No VPC: the functions reach only DynamoDB, SQS and X-Ray over AWS endpoints, and a VPC would add NAT or interface-endpoint cost without isolating anything.
  # checkov:skip=CKV_AWS_272:Code signing needs AWS Signer profiles and a signing step in the build; the zips come from our own cargo-lambda build in CI.
  # checkov:skip=CKV_AWS_116:No function is invoked asynchronously except the order sweeper, whose next scheduled run (one minute later) is its retry; Lambda DLQs apply only to asynchronous invocations.
  # checkov:skip=CKV_AWS_115:Reserved concurrency is left to the account: new accounts may have a concurrency quota of 10, which reserving would exhaust; the POST /orders throttle, derived from lambda_concurrency_quota, bounds the load instead.

  function_name = local.function_names[each.key]
  description   = "Order saga: ${each.key}"
  role          = aws_iam_role.fn[each.key].arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.lambda_architecture]
  memory_size   = var.lambda_memory_mb
  timeout       = each.value
  kms_key_arn   = aws_kms_key.main.arn

  # The zips exist only after `cargo build-lambdas`; plans and tests run without them, so the hash is read only when
  # the file is there (Lambda then redeploys exactly when the build changed).
  filename         = local.lambda_zips[each.key]
  source_code_hash = fileexists(local.lambda_zips[each.key]) ? filebase64sha256(local.lambda_zips[each.key]) : null

  environment {
    variables = local.function_environment[each.key]
  }

  # With the JSON format Lambda filters lines by their "level" and passes the application level to the function as
  # AWS_LAMBDA_LOG_LEVEL (AWS's Lambda guide, "Log-level filtering"), which lambda_runtime's init_default_subscriber
  # takes as its level unless RUST_LOG is set (locals.tf). variables.tf says why the level stops at INFO.
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.fn[each.key].name
    application_log_level = var.lambda_log_level
    system_log_level      = var.lambda_system_log_level
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_iam_role_policy.fn]
}

# --- repair worker: SQS event source ---------------------------------------------------------------------------

resource "aws_lambda_event_source_mapping" "repair" {
  event_source_arn = aws_sqs_queue.repair.arn
  function_name    = aws_lambda_function.fn["repair-worker"].arn
  batch_size       = 10
  # Only the messages the worker reports as failed come back; the rest of the batch is deleted.
  function_response_types = ["ReportBatchItemFailures"]

  # Lambda polls an SQS queue with several concurrent batches and adds more while messages wait; maximum concurrency
  # caps that (AWS's Lambda guide on SQS event sources; 2 is the least it accepts). 2 keeps the repair worker within
  # the concurrency budget of the POST /orders throttle (api_stage.tf). Repairs are rare and the queue keeps them,
  # so they can wait.
  scaling_config {
    maximum_concurrency = 2
  }
}

# --- order sweeper: every minute -------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "sweeper" {
  name                = "${var.name_prefix}-order-sweeper"
  description         = "Compensates orders left PENDING longer than SWEEP_AFTER_SECONDS."
  schedule_expression = "rate(1 minute)"
}

resource "aws_cloudwatch_event_target" "sweeper" {
  rule = aws_cloudwatch_event_rule.sweeper.name
  arn  = aws_lambda_function.fn["order-sweeper"].arn

  retry_policy {
    # A missed sweep is covered by the next one a minute later.
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 60
  }
}

# EventBridge invokes the sweeper asynchronously, and Lambda retries a failed asynchronous invocation twice by
# default (AWS's Lambda guide, "Asynchronous invocation"). The next scheduled run a minute later is the retry, and a
# Lambda retry running beside it would hold a second instance the POST /orders throttle does not count
# (api_stage.tf). An event that waited a minute in Lambda's queue is as stale as the next one is fresh.
resource "aws_lambda_function_event_invoke_config" "sweeper" {
  function_name                = aws_lambda_function.fn["order-sweeper"].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}

resource "aws_lambda_permission" "sweeper" {
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.fn["order-sweeper"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweeper.arn
}
