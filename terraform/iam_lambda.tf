# One role per function. Every statement names its actions and resources; the only resource wildcard is X-Ray's,
# whose write actions support no resource-level permissions.

locals {
  orders_gsi_arn = "${aws_dynamodb_table.orders.arn}/index/status-createdAt"

  # DynamoDB grants per function: exactly the calls its handler makes through crates/saga-store-dynamodb.
  # TransactWriteItems is authorised by the actions it contains (Put, Update, ConditionCheck, Delete), so it does
  # not appear here. Two reads recur: a refused conditional write reads the item back with GetItem when DynamoDB
  # returned no old image, and a refused transaction reads every item it named (diagnose()) to tell data it
  # cannot handle from a conflict worth retrying.
  release_stock_grants = [
    # release(): reads the reservation; writes a tombstone (PutItem) when there is none, or a transaction that marks
    # it RELEASED and gives the stock back (UpdateItem on both tables); diagnose() reads the skus.
    { actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.reservations.arn] },
    { actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.inventory.arn] },
  ]
  # fence_order() and cancel_order(): conditional UpdateItem, a tombstone PutItem for an absent order, GetItem after
  # a refusal. cancel-order needs all three; fence-order only the update and the read.
  cancel_order_grants = [
    { actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.orders.arn] },
  ]

  function_grants = {
    # claim_idempotency_key(), get_order() for a replayed key, put_order_if_absent().
    "create-order" = [
      { actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [aws_dynamodb_table.idempotency.arn] },
      { actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [aws_dynamodb_table.orders.arn] },
    ]
    # reserve(): one transaction puts the reservation and takes the stock; a refusal reads both back. It never
    # touches the orders table.
    "reserve-stock" = [
      { actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [aws_dynamodb_table.reservations.arn] },
      { actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.inventory.arn] },
    ]
    "confirm-order" = [
      { actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.orders.arn] },
    ]
    "fence-order" = [
      { actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [aws_dynamodb_table.orders.arn] },
    ]
    "release-stock" = local.release_stock_grants
    "cancel-order"  = local.cancel_order_grants
    # compensate(): fence, release, cancel. The SQS actions serve Lambda's event source mapping, which polls the
    # queue with the function's role; the handler itself makes no SQS call.
    "repair-worker" = concat(local.release_stock_grants, local.cancel_order_grants, [
      {
        actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
        resources = [aws_sqs_queue.repair.arn]
      },
    ])
    # orders_in_status() queries the status-createdAt index, then compensate() as in the repair worker.
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
