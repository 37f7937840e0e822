# The Express state machine. Its definition is the repository's workflow.asl.json rendered with templatefile, so
# its ${...} placeholders receive the deployed ARNs (file() would leave them in place). JSONPath strings such as
# "$.order" and "States.Format('... {} ...')" pass through templatefile untouched: only "${" and "%{" are special.

locals {
  workflow_definition = templatefile(local.workflow_path, {
    CreateOrderFunctionArn  = aws_lambda_function.fn["create-order"].arn
    ReserveStockFunctionArn = aws_lambda_function.fn["reserve-stock"].arn
    ConfirmOrderFunctionArn = aws_lambda_function.fn["confirm-order"].arn
    FenceOrderFunctionArn   = aws_lambda_function.fn["fence-order"].arn
    ReleaseStockFunctionArn = aws_lambda_function.fn["release-stock"].arn
    CancelOrderFunctionArn  = aws_lambda_function.fn["cancel-order"].arn
    RepairQueueUrl          = aws_sqs_queue.repair.url
  })
}

resource "aws_cloudwatch_log_group" "state_machine" {
  # Under /aws/vendedlogs/ the log delivery does not grow the account's CloudWatch Logs resource policy.
  name              = "/aws/vendedlogs/states/${var.name_prefix}-order-saga"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_sfn_state_machine" "order_saga" {
  name       = "${var.name_prefix}-order-saga"
  type       = "EXPRESS"
  role_arn   = aws_iam_role.state_machine.arn
  definition = local.workflow_definition

  # Express workflows keep no execution history: these logs are the only record of each step.
  logging_configuration {
    level                  = "ALL"
    include_execution_data = var.include_execution_data
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
  }

  tracing_configuration {
    enabled = true
  }

  # CreateStateMachine checks that the role can deliver logs to log_destination and answers AccessDeniedException
  # ("The state machine IAM Role is not authorized to access the Log Destination") while the role or its policy,
  # created moments before, has not yet propagated through IAM, which AWS documents as eventually consistent. The
  # hashicorp/aws provider retries CreateStateMachine on AccessDeniedException until the create timeout (5 minutes),
  # which covers the usual delay; docs/deploy.md says what to do if it does not.
  depends_on = [aws_iam_role_policy.state_machine]
}

resource "aws_iam_role" "state_machine" {
  name = "${var.name_prefix}-order-saga-sfn"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "states.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
}

locals {
  saga_function_arns = [for fn in keys(local.saga_task_states) : aws_lambda_function.fn[fn].arn]

  state_machine_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        # The unqualified ARN and any version or alias of the five task functions.
        Sid      = "InvokeSagaTasks"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = concat(local.saga_function_arns, [for arn in local.saga_function_arns : "${arn}:*"])
      },
      {
        Sid      = "EnqueueRepair"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [aws_sqs_queue.repair.arn]
      },
      {
        # The repair queue is encrypted with the stack key: sending needs a data key.
        Sid      = "EncryptRepairMessages"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [aws_kms_key.main.arn]
        Condition = {
          StringEquals = { "kms:ViaService" = "sqs.${local.region}.amazonaws.com" }
        }
      },
      {
        # CloudWatch Logs delivery for Step Functions: AWS documents these actions with resource "*" because the
        # log-delivery APIs do not support resource-level permissions.
        Sid    = "VendedLogDelivery"
        Effect = "Allow"
        Action = [
          "logs:CreateLogDelivery",
          "logs:GetLogDelivery",
          "logs:UpdateLogDelivery",
          "logs:DeleteLogDelivery",
          "logs:ListLogDeliveries",
          "logs:PutResourcePolicy",
          "logs:DescribeResourcePolicies",
          "logs:DescribeLogGroups",
        ]
        Resource = "*"
      },
      {
        # X-Ray write actions support no resource-level permissions.
        Sid      = "XRayWrite"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
        Resource = "*"
      },
    ]
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "least-privilege"
  role   = aws_iam_role.state_machine.id
  policy = jsonencode(local.state_machine_policy)
}
