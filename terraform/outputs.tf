output "api_url" {
  description = "Base URL of the stage, without a trailing slash (SAGA_BASE_URL for the contract tests)."
  value       = aws_api_gateway_stage.api.invoke_url
}

output "state_machine_arn" {
  description = "ARN of the Express state machine."
  value       = aws_sfn_state_machine.order_saga.arn
}

output "state_machine_log_group" {
  description = "CloudWatch log group holding every execution's events (Express workflows have no execution history)."
  value       = aws_cloudwatch_log_group.state_machine.name
}

output "orders_table" {
  description = "Name of the orders table."
  value       = aws_dynamodb_table.orders.name
}

output "inventory_table" {
  description = "Name of the inventory table."
  value       = aws_dynamodb_table.inventory.name
}

output "reservations_table" {
  description = "Name of the reservations table."
  value       = aws_dynamodb_table.reservations.name
}

output "idempotency_table" {
  description = "Name of the idempotency table."
  value       = aws_dynamodb_table.idempotency.name
}

output "repair_queue_url" {
  description = "URL of the repair queue."
  value       = aws_sqs_queue.repair.url
}

output "repair_dlq_url" {
  description = "URL of the repair queue's dead-letter queue."
  value       = aws_sqs_queue.repair_dlq.url
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to."
  value       = aws_sns_topic.alarms.arn
}

output "inventory_writer_policy_arn" {
  description = "IAM policy to attach to whoever may call PUT /inventory/{sku} (signed with SigV4)."
  value       = aws_iam_policy.inventory_writer.arn
}

output "function_names" {
  description = "Lambda function names by role in the saga."
  value       = { for fn, f in aws_lambda_function.fn : fn => f.function_name }
}
