# One customer managed key encrypts the tables, the queues, the alarm topic, the log groups and the Lambda
# environment. A CMK (rather than AWS owned keys) is what lets checkov pass without skips, lets CloudTrail show every
# use of the data key, and lets an operator revoke access to the data in one place. It costs 1 USD a month plus
# requests; DynamoDB and SQS cache data keys, so request charges stay small.
resource "aws_kms_key" "main" {
  description             = "${var.name_prefix}: tables, queues, alarm topic, logs and Lambda environment"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = jsonencode(local.kms_key_policy)
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.main.key_id
}

locals {
  kms_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        # The account's IAM policies decide who may use the key (the default key policy); the roles in this stack
        # get kms:Decrypt / kms:GenerateDataKey through their own policies.
        Sid       = "AccountAdministersKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # CloudWatch Logs encrypts log groups with the key only for this account's log groups.
        Sid       = "CloudWatchLogsEncryptsLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action = [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"
          }
        }
      },
      {
        # CloudWatch alarms publish to the encrypted alarm topic.
        Sid       = "CloudWatchAlarmsPublishToTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  }
}
