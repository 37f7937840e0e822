# One role per API integration, each allowed exactly the one call its integration makes.

locals {
  api_integration_grants = {
    "start-execution" = { actions = ["states:StartSyncExecution"], resources = [aws_sfn_state_machine.order_saga.arn] }
    "orders-read"     = { actions = ["dynamodb:GetItem"], resources = [aws_dynamodb_table.orders.arn] }
    "inventory-read"  = { actions = ["dynamodb:GetItem"], resources = [aws_dynamodb_table.inventory.arn] }
    "inventory-write" = { actions = ["dynamodb:UpdateItem"], resources = [aws_dynamodb_table.inventory.arn] }
  }

  api_integration_policies = {
    for name, g in local.api_integration_grants : name => {
      Version = "2012-10-17"
      Statement = [
        { Sid = "Integration", Effect = "Allow", Action = g.actions, Resource = g.resources },
        {
          # The tables are encrypted with the stack key (kms.tf).
          Sid      = "UseStackKeyThroughDynamoDB"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = [aws_kms_key.main.arn]
          Condition = {
            StringEquals = { "kms:ViaService" = "dynamodb.${local.region}.amazonaws.com" }
          }
        },
      ]
    }
  }

  # No aws:SourceAccount or aws:SourceArn condition here, unlike the Lambda and Step Functions roles: API Gateway
  # does not put those keys in the request context when it assumes an integration's `credentials` role, so a
  # condition on them denies the AssumeRole and every integration answers 500 ("API Gateway does not have
  # permission to assume the provided role"). A live stack hit exactly this (aws-solutions-library-samples/
  # accelerated-intelligent-document-processing-on-aws, PR #479, confirmed with test-invoke-method). Without the
  # condition, no other account can use these roles either: attaching a role to an integration takes
  # iam:PassRole on it, which only this account's principals can be granted. Each role allows one action on one
  # resource (api_integration_grants).
  api_assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "apigateway.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role" "api_start_execution" {
  name               = "${var.name_prefix}-api-start-execution"
  assume_role_policy = local.api_assume_role_policy
}

resource "aws_iam_role" "api_orders_read" {
  name               = "${var.name_prefix}-api-orders-read"
  assume_role_policy = local.api_assume_role_policy
}

resource "aws_iam_role" "api_inventory_read" {
  name               = "${var.name_prefix}-api-inventory-read"
  assume_role_policy = local.api_assume_role_policy
}

resource "aws_iam_role" "api_inventory_write" {
  name               = "${var.name_prefix}-api-inventory-write"
  assume_role_policy = local.api_assume_role_policy
}

locals {
  api_integration_roles = {
    "start-execution" = aws_iam_role.api_start_execution.id
    "orders-read"     = aws_iam_role.api_orders_read.id
    "inventory-read"  = aws_iam_role.api_inventory_read.id
    "inventory-write" = aws_iam_role.api_inventory_write.id
  }
}

resource "aws_iam_role_policy" "api_integration" {
  for_each = local.api_integration_policies

  name   = "least-privilege"
  role   = local.api_integration_roles[each.key]
  policy = jsonencode(each.value)
}
