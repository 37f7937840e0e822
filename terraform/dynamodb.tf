# Four on-demand tables. Attribute shapes are documented in docs/deploy.md; only key attributes are declared here.
# Every table: point-in-time recovery, SSE with the stack's CMK (kms.tf), deletion protection from a variable.

resource "aws_dynamodb_table" "orders" {
  name                        = "${var.name_prefix}-orders"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "orderId"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "orderId"
    type = "S"
  }

  attribute {
    name = "status"
    type = "S"
  }

  attribute {
    name = "createdAt"
    type = "N"
  }

  # The order sweeper queries PENDING orders older than SWEEP_AFTER_SECONDS.
  global_secondary_index {
    name            = "status-createdAt"
    hash_key        = "status"
    range_key       = "createdAt"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}

resource "aws_dynamodb_table" "inventory" {
  name                        = "${var.name_prefix}-inventory"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "sku"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "sku"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}

resource "aws_dynamodb_table" "reservations" {
  name                        = "${var.name_prefix}-reservations"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "orderId"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "orderId"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}

resource "aws_dynamodb_table" "idempotency" {
  name                        = "${var.name_prefix}-idempotency"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "idempotencyKey"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "idempotencyKey"
    type = "S"
  }

  # expiresAt is epoch seconds; DynamoDB deletes expired keys within a few days, so the store must also compare
  # expiresAt itself when it reads a key.
  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }
}
