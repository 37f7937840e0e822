# One role per function. Every statement names its actions and resources; the only resource wildcard is X-Ray's,
# whose write actions support no resource-level permissions.

locals {
  orders_gsi_arn = "${aws_dynamodb_table.orders.arn}/index/status-createdAt"

  # DynamoDB grants per function. TransactWriteItems is authorised by the actions it contains (Put, Update,
  # ConditionCheck, Delete), so it does not appear here.
  release_stock_grants = [
    { actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.reservations.arn] },
    { actions = ["dynamodb:UpdateItem"], resources = [aws_dynamodb_table.inventory.arn] },
  ]
  cancel_order_grants = [
    { actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.orders.arn] },
  ]

  function_grants = {
    "create-order" = [
      { actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [aws_dynamodb_table.idempotency.arn] },
      { actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [aws_dynamodb_table.orders.arn] },
    ]
    "reserve-stock" = [
      { actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.reservations.arn] },
      { actions = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"], resources = [aws_dynamodb_table.inventory.arn] },
      { actions = ["dynamodb:GetItem"], resources = [aws_dynamodb_table.orders.arn] },
    ]
    "confirm-order" = [
      { actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.orders.arn] },
    ]
    "fence-order" = [
      { actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.orders.arn] },
    ]
    "release-stock" = local.release_stock_grants
    "cancel-order"  = local.cancel_order_grants
    "repair-worker" = concat(local.release_stock_grants, local.cancel_order_grants, [
      {
        actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
        resources = [aws_sqs_queue.repair.arn]
      },
    ])
    "order-sweeper" = concat(local.release_stock_grants, [
      { actions = ["dynamodb:Query"], resources = [local.orders_gsi_arn] },
      { actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.orders.arn] },
    ])
  }

  # Services that may use the CMK on a function's behalf: DynamoDB (tables), Lambda (environment variables) and,
  # for the repair worker, SQS (message bodies).
  function_kms_services = {
    for fn in keys(local.function_timeouts) : fn => concat(
      ["dynamodb.${local.region}.amazonaws.com", "lambda.${local.region}.amazonaws.com"],
      fn == "repair-worker" ? ["sqs.${local.region}.amazonaws.com"] : [],
    )
  }

  function_policies = {
    for fn, grants in local.function_grants : fn => {
      Version = "2012-10-17"
      Statement = concat(
        [for i, g in grants : { Sid = "Data${i}", Effect = "Allow", Action = g.actions, Resource = g.resources }],
        [
          {
            Sid      = "OwnLogGroup"
            Effect   = "Allow"
            Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
            Resource = ["${aws_cloudwatch_log_group.fn[fn].arn}:*"]
          },
          {
            # X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions, so the
            # resource must be "*" (the actions themselves are named).
            Sid      = "XRayWrite"
            Effect   = "Allow"
            Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
            Resource = "*"
          },
          {
            Sid      = "UseStackKey"
            Effect   = "Allow"
            Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
            Resource = [aws_kms_key.main.arn]
            Condition = {
              StringEquals = { "kms:ViaService" = local.function_kms_services[fn] }
            }
          },
        ],
      )
    }
  }
}

resource "aws_iam_role" "fn" {
  for_each = local.function_names

  name = "${each.value}-fn"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "fn" {
  for_each = local.function_policies

  name   = "least-privilege"
  role   = aws_iam_role.fn[each.key].id
  policy = jsonencode(each.value)
}
